//! `session_secret.key`: hashed (SHA-256) as it is read and only compared.
//! Neither the key nor its hash is ever printed, logged or stored.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{SESSION_KEY_FILE, finding};
use crate::finding::{Code, Finding, Severity};

/// A SHA-256 of a session key. Compared only; never printed (Debug masks it).
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprint(***)")
    }
}

impl Fingerprint {
    /// The fingerprint of a key as AISBF reads it (`f.read().strip()`).
    pub fn of(key: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(key.trim_ascii()).into())
    }
}

/// What a node's `session_secret.key` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKey {
    Present(Fingerprint),
    /// No file: the node generates its own key at start.
    Missing,
    /// The file exists but cannot be read (the reason, never the content).
    Unreadable(String),
}

impl SessionKey {
    /// Reads and hashes the file at once; the key itself is not kept.
    pub fn read(path: &Path) -> SessionKey {
        match std::fs::read(path) {
            Ok(bytes) => SessionKey::Present(Fingerprint::of(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SessionKey::Missing,
            Err(e) => SessionKey::Unreadable(format!("cannot read {}: {e}", path.display())),
        }
    }
}

/// Pure: nodes whose session key differs from the majority's (or, with no
/// majority, from every other node's). A missing file counts as a key of its
/// own. Returns the findings and the nodes that agree with the majority.
pub fn compare_sessions(nodes: &[(String, SessionKey)]) -> (Vec<Finding>, Vec<String>) {
    let mut out = Vec::new();
    // Groups of nodes sharing one key; every missing file is a group of one.
    let mut groups: Vec<(Option<&Fingerprint>, Vec<&str>)> = Vec::new();
    for (node, key) in nodes {
        match key {
            SessionKey::Present(fp) => match groups.iter_mut().find(|(g, _)| *g == Some(fp)) {
                Some((_, members)) => members.push(node),
                None => groups.push((Some(fp), vec![node])),
            },
            SessionKey::Missing => groups.push((None, vec![node])),
            SessionKey::Unreadable(e) => out.push(finding(
                Severity::Warn,
                node,
                Code::NodeConfigUnreadable,
                format!("cannot compare {node}'s {SESSION_KEY_FILE}: {e}"),
            )),
        }
    }
    let total: usize = groups.iter().map(|(_, m)| m.len()).sum();
    if total < 2 {
        return (
            out,
            groups
                .into_iter()
                .flat_map(|(_, m)| m)
                .map(str::to_string)
                .collect(),
        );
    }
    let majority = groups.iter().position(|(_, m)| m.len() * 2 > total);
    let mut agreeing = Vec::new();
    for (i, (fp, members)) in groups.iter().enumerate() {
        if Some(i) == majority {
            agreeing.extend(members.iter().map(|m| m.to_string()));
            continue;
        }
        let others: Vec<&str> = match majority {
            Some(m) => groups[m].1.clone(),
            None => groups
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, (_, m))| m.iter().copied())
                .collect(),
        };
        let others = others.join(", ");
        for node in members {
            let what = match fp {
                Some(_) => format!("{node}'s {SESSION_KEY_FILE} differs from {others}"),
                None => format!(
                    "{node} has no {SESSION_KEY_FILE} next to its aisbf.json: it generates its own at start, which differs from {others}"
                ),
            };
            out.push(finding(
                Severity::Fail,
                node,
                Code::SessionSecretDiffers,
                format!(
                    "{what}: dashboard sessions signed by one node are refused by the other, so dashboard users are logged out on every other request behind the balancer"
                ),
            ));
        }
    }
    (out, agreeing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::node_files::fixtures::*;

    #[test]
    fn session_keys_name_the_odd_node_and_never_the_key() {
        let (f, agreeing) = compare_sessions(&[
            ("aisbf-1".into(), key("k-one")),
            ("aisbf-2".into(), key("k-two")),
            ("aisbf-3".into(), key("k-one\n")),
        ]);
        assert_eq!(agreeing, ["aisbf-1", "aisbf-3"]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::SessionSecretDiffers);
        assert_eq!(f[0].subject, "aisbf-2");
        assert!(
            f[0].message.contains("differs from aisbf-1, aisbf-3"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("logged out on every other request"));
        assert!(!format!("{f:?}").contains("k-two"));
        assert_eq!(format!("{:?}", key("k-two")), "Present(Fingerprint(***))");
    }

    #[test]
    fn session_keys_missing_or_all_different() {
        let (f, _) = compare_sessions(&[
            ("aisbf-1".into(), key("k")),
            ("aisbf-2".into(), SessionKey::Missing),
            ("aisbf-3".into(), key("k")),
        ]);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("generates its own"),
            "{}",
            f[0].message
        );
        let (f, agreeing) = compare_sessions(&[
            ("aisbf-1".into(), key("a")),
            ("aisbf-2".into(), key("b")),
            ("aisbf-3".into(), SessionKey::Missing),
        ]);
        assert!(agreeing.is_empty());
        assert_eq!(f.len(), 3);
        assert!(
            f[0].message.contains("differs from aisbf-2, aisbf-3"),
            "{}",
            f[0].message
        );
        // Two missing files are two different generated keys.
        let (f, _) = compare_sessions(&[
            ("aisbf-1".into(), SessionKey::Missing),
            ("aisbf-2".into(), SessionKey::Missing),
        ]);
        assert_eq!(f.len(), 2);
        // One node alone has nothing to differ from.
        let (f, _) = compare_sessions(&[("aisbf-1".into(), key("a"))]);
        assert!(f.is_empty());
    }
}
