//! Each node's own files (`check files`): its whole aisbf.json and its
//! `session_secret.key`, compared with the cluster's config and with the other
//! nodes'.
//!
//! AISBF keeps per-node state in files the API never shows: one node with
//! `response_cache.enabled = false`, another Redis db or its own session key
//! looks healthy from outside. The probe reads the files named by
//! `aisbf_json` (the session key is the file next to it), then pure functions
//! ([`compare`], [`compare_sessions`]) name each differing key and the odd
//! node. Passwords are never read ([`crate::aisbf_json`]); the session key is
//! hashed (SHA-256) as it is read and only compared: neither the key nor its
//! hash is ever printed, logged or stored.
//!
//! The parts: `keys` (the compared keys and what the cluster expects),
//! `compare` (the odd node per key), `session_key` (the session key files),
//! `sessions` (a live login tried on every node) and `assess` (all of it
//! into findings).

use std::path::Path;

use futures::future::BoxFuture;

use crate::aisbf_json;
use crate::config::Config;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::probe::NotConfigured;
use crate::probe::context::ProbeContext;

mod assess;
mod compare;
#[cfg(test)]
mod fixtures;
mod keys;
mod session_key;
mod sessions;

use sessions::{SESSION_ISSUERS, observe_sessions};

pub use assess::assess;
pub use compare::{Difference, Reference, compare, config_findings};
pub use keys::{Key, expected, keys_of};
pub use session_key::{Fingerprint, SessionKey, compare_sessions};
pub use sessions::{SessionObservation, session_cross_check};

/// The file next to aisbf.json that signs a node's dashboard sessions.
pub const SESSION_KEY_FILE: &str = "session_secret.key";

pub struct NodeFilesProbe;

impl super::Probe for NodeFilesProbe {
    fn requires(&self, config: &Config) -> Result<(), NotConfigured> {
        if config.cluster.nodes.iter().any(|n| n.aisbf_json.is_some()) {
            Ok(())
        } else {
            Err(NotConfigured::needs(
                "aisbf_json on at least one [[cluster.nodes]]",
            ))
        }
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            // Every node with a file is compared (a majority needs them all);
            // only the nodes in scope are reported.
            let mut findings = Vec::new();
            let mut configs = Vec::new();
            let mut sessions = Vec::new();
            for node in &ctx.config.cluster.nodes {
                let Some(path) = &node.aisbf_json else {
                    continue;
                };
                match aisbf_json::load_config(path) {
                    Ok(c) => configs.push((node.name.clone(), c)),
                    Err(e) => findings.push(finding(
                        Severity::Warn,
                        &node.name,
                        Code::NodeConfigUnreadable,
                        format!("cannot compare {}'s aisbf.json: {e}", node.name),
                    )),
                }
                let key = path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(SESSION_KEY_FILE);
                sessions.push((node.name.clone(), SessionKey::read(&key)));
            }
            findings.extend(assess(&expected(&ctx.config), &configs, &sessions));
            if let Some(login) = &ctx.config.cluster.dashboard {
                // Logins on a few nodes: a node whose clock runs ahead only
                // shows in the sessions it issues itself.
                let issuers = ctx.config.cluster.nodes.iter().take(SESSION_ISSUERS);
                let observed =
                    futures::future::join_all(issuers.map(|n| observe_sessions(ctx, login, n)))
                        .await;
                let live: Vec<Finding> = observed.iter().flat_map(session_cross_check).collect();
                // A node whose sessions fail is not "ok", whatever its files say.
                findings.retain(|f| {
                    f.code != Code::NodeFilesOk
                        || !live
                            .iter()
                            .any(|l| l.subject == f.subject && l.severity > Severity::Ok)
                });
                findings.extend(live);
            }
            let in_scope: Vec<&str> = ctx.nodes().iter().map(|n| n.name.as_str()).collect();
            findings.retain(|f| in_scope.contains(&f.subject.as_str()));
            findings
        })
    }
}

fn name_few(names: &[&str]) -> String {
    crate::finding::name_few(names, 3, "more")
}

fn finding(sev: Severity, subject: &str, code: Code, message: String) -> Finding {
    Finding::new(ProbeKind::Files, sev, subject, code, message)
}
