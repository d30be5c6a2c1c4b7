//! Pure: the probe's findings from the nodes' files, with an ok line only for
//! a node nothing differs on.

use std::collections::BTreeMap;

use super::compare::{compare, config_findings};
use super::keys::Key;
use super::session_key::{SessionKey, compare_sessions};
use super::{SESSION_KEY_FILE, finding};
use crate::aisbf_json::NodeConfig;
use crate::finding::{Code, Finding, Severity};

/// Pure: every finding of the probe.
pub fn assess(
    expected: &BTreeMap<Key, String>,
    configs: &[(String, NodeConfig)],
    sessions: &[(String, SessionKey)],
) -> Vec<Finding> {
    let diffs = compare(expected, configs);
    let mut out = config_findings(&diffs);
    let (session_findings, _) = compare_sessions(sessions);
    out.extend(session_findings);
    for (node, differences) in &diffs {
        let flagged = out
            .iter()
            .any(|f| &f.subject == node && f.severity != Severity::Ok);
        if differences.is_empty() && !flagged {
            out.push(finding(
                Severity::Ok,
                node,
                Code::NodeFilesOk,
                format!(
                    "{node}'s aisbf.json agrees with the cluster and the other nodes (database, cache, response_cache, auth.enabled), and so does its {SESSION_KEY_FILE}"
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::node_files::fixtures::*;

    #[test]
    fn assess_gives_ok_only_to_nodes_without_any_difference() {
        let configs = three(with(r#"{"auth":{"enabled":false}}"#));
        let sessions = vec![
            ("aisbf-1".to_string(), key("a")),
            ("aisbf-2".to_string(), key("a")),
            ("aisbf-3".to_string(), key("b")),
        ];
        let f = assess(&BTreeMap::new(), &configs, &sessions);
        let ok: Vec<&str> = f
            .iter()
            .filter(|f| f.code == Code::NodeFilesOk)
            .map(|f| f.subject.as_str())
            .collect();
        assert_eq!(ok, ["aisbf-1"]);
    }
}
