//! The user token and the global token across nodes: accepted everywhere with
//! the same routes, rejected everywhere (credentials), or only on some nodes
//! (auth drift).

use std::collections::BTreeSet;

use super::drift::{odd_ones_out, set_diff};
use super::name_few;
use super::observe::NodeObservation;
use crate::aisbf::{self, Refusal};
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::probe::target::model_ids;

/// What the user-token request says about the token on one node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TokenAnswer {
    Accepted(BTreeSet<String>),
    /// Rejected with AISBF's reason text.
    Rejected {
        status: u16,
        refusal: Refusal,
        reason: String,
    },
}

/// The user's routes as a node lists them: model ids plus `user-provider/<id>`.
pub(super) fn user_catalogue(o: &NodeObservation) -> Option<BTreeSet<String>> {
    let mut ids = match &o.models {
        Ok(a) if a.status == 200 => model_ids(a)?,
        _ => return None,
    };
    // Without the providers list the catalogue is unknown, not smaller: a
    // timed-out request must not read as models that differ.
    if o.providers.is_err() {
        return None;
    }
    if let Ok(a) = &o.providers
        && a.status == 200
        && let Some(serde_json::Value::Object(map)) = a.body.field("providers")
    {
        ids.extend(map.keys().map(|k| format!("user-provider/{k}")));
    }
    Some(ids)
}

fn token_answer(o: &NodeObservation) -> Option<TokenAnswer> {
    let a = o.models.as_ref().ok()?;
    match a.status {
        200 => user_catalogue(o).map(TokenAnswer::Accepted),
        401 | 403 => Some(TokenAnswer::Rejected {
            status: a.status,
            refusal: Refusal::of(a).unwrap_or(Refusal::Other),
            reason: aisbf::reason(a),
        }),
        _ => None,
    }
}

pub(super) fn compare_tokens(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let answers: Vec<(&str, TokenAnswer)> = answering
        .iter()
        .filter_map(|o| token_answer(o).map(|t| (o.name.as_str(), t)))
        .collect();
    let accepted: Vec<(&str, &BTreeSet<String>)> = answers
        .iter()
        .filter_map(|(n, t)| match t {
            TokenAnswer::Accepted(ids) => Some((*n, ids)),
            TokenAnswer::Rejected { .. } => None,
        })
        .collect();
    let rejected: Vec<(&str, u16, Refusal, &str)> = answers
        .iter()
        .filter_map(|(n, t)| match t {
            TokenAnswer::Rejected {
                status,
                refusal,
                reason,
            } => Some((*n, *status, *refusal, reason.as_str())),
            TokenAnswer::Accepted(_) => None,
        })
        .collect();

    if accepted.is_empty() {
        if let Some((_, status, refusal, reason)) = rejected.first() {
            let nodes: Vec<&str> = rejected.iter().map(|(n, _, _, _)| *n).collect();
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Fail,
                "token",
                Code::TokenRejected,
                format!(
                    "every node ({}) rejects the user token with {status} \"{reason}\": {}",
                    name_few(&nodes),
                    refusal.explain()
                ),
            ));
        }
    } else {
        // Named once: every rejecting node's message names the same few.
        let accepted_by = name_few(&accepted.iter().map(|(n, _)| *n).collect::<Vec<_>>());
        for (name, status, refusal, reason) in &rejected {
            let code = if *refusal == Refusal::AuthDisabled {
                Code::AuthDisabledOnNode
            } else {
                Code::TokenRejectedOnNode
            };
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Fail,
                *name,
                code,
                format!(
                    "rejects the user token that {accepted_by} accept(s): {status} \"{reason}\" ({})",
                    refusal.explain()
                ),
            ));
        }
    }

    let sets: Vec<(&str, BTreeSet<String>)> =
        accepted.iter().map(|(n, s)| (*n, (*s).clone())).collect();
    for (name, ids, majority) in odd_ones_out(&sets) {
        let msg = match majority {
            Some(m) => format!(
                "models for the user differ from the majority: {}",
                set_diff(ids, m).unwrap_or_default()
            ),
            None => format!(
                "nodes disagree on the user's models and no majority exists ({} models here)",
                ids.len()
            ),
        };
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            name,
            Code::ModelsDiffer,
            msg,
        ));
    }
}

pub(super) fn compare_global_token(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for o in answering {
        if let Ok(a) = &o.health {
            match a.status {
                200 => accepted.push(o.name.as_str()),
                401 | 403 => rejected.push((
                    o.name.as_str(),
                    a.status,
                    Refusal::of(a).unwrap_or(Refusal::Other),
                    aisbf::reason(a),
                )),
                _ => {}
            }
        }
    }
    if accepted.is_empty() {
        if let Some((_, status, refusal, reason)) = rejected.first() {
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Fail,
                "global_token",
                Code::GlobalTokenRejected,
                format!(
                    "every node rejects cluster.global_token on GET /health with {status} \"{reason}\": {}",
                    refusal.explain()
                ),
            ));
        }
        return;
    }
    let accepted_by = name_few(&accepted);
    for (name, status, _, reason) in rejected {
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            name,
            Code::GlobalTokenRejectedOnNode,
            format!(
                "rejects the global token that {accepted_by} accept(s) on GET /health: {status} \"{reason}\"; its auth config differs"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::health::assess;
    use crate::probe::health::fixtures::*;
    use serde_json::json;

    #[test]
    fn node_with_different_models_is_the_odd_one_out() {
        let mut c = healthy("c");
        c.models = models(&["rotation/r1"]);
        c.providers = ok(200, json!({"providers": {"p1": {}, "p3": {}}}));
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        let drift: Vec<_> = f.iter().filter(|x| x.code == Code::ModelsDiffer).collect();
        assert_eq!(drift.len(), 1);
        assert_eq!(drift[0].subject, "c");
        assert!(
            drift[0]
                .message
                .contains("missing [autoselect/a1, user-provider/p2], extra [user-provider/p3]"),
            "{}",
            drift[0].message
        );
    }

    #[test]
    fn a_providers_request_that_timed_out_is_a_timeout_not_models_that_differ() {
        let mut c = healthy("c");
        c.providers = Err(crate::http::Failure {
            kind: crate::http::FailureKind::Timeout,
            latency_ms: 5000,
            detail: String::new(),
        });
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        assert!(!f.iter().any(|x| x.code == Code::ModelsDiffer), "{f:#?}");
        assert!(codes_for(&f, "c").contains(&Code::NodeTimeout), "{f:#?}");
    }

    #[test]
    fn token_rejected_on_one_node_is_auth_drift_on_that_node() {
        let mut c = healthy("c");
        c.models = ok(403, json!({"error": "Invalid authentication token"}));
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        assert_eq!(
            codes_for(&f, "c"),
            vec![Code::TokenRejectedOnNode, Code::HealthAuthGated]
        );
        assert!(!f.iter().any(|x| x.code == Code::TokenRejected));
    }

    #[test]
    fn token_rejected_everywhere_is_a_credentials_finding_with_the_reason() {
        let nodes: Vec<_> = ["a", "b"]
            .iter()
            .map(|n| {
                let mut o = healthy(n);
                o.models = ok(
                    403,
                    json!({"error": "This token does not have API access."}),
                );
                o
            })
            .collect();
        let f = assess(&nodes, false);
        let t: Vec<_> = f.iter().filter(|x| x.code == Code::TokenRejected).collect();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].subject, "token");
        assert!(
            t[0].message.contains("scope is mcp only"),
            "{}",
            t[0].message
        );
    }

    #[test]
    fn global_token_rejected_by_one_node_is_auth_drift() {
        let with = |name: &str, status: u16| {
            let mut o = healthy(name);
            o.health = if status == 200 {
                ok(200, json!({"status": "ok"}))
            } else {
                ok(status, json!({"error": "Invalid authentication token"}))
            };
            o
        };
        let f = assess(&[with("a", 200), with("b", 200), with("c", 403)], true);
        assert_eq!(codes_for(&f, "c"), vec![Code::GlobalTokenRejectedOnNode]);
    }

    #[test]
    fn messages_name_a_few_nodes_and_a_count_at_any_cluster_size() {
        let obs: Vec<NodeObservation> = (0..1000)
            .map(|i| {
                let mut o = healthy(&format!("node-{i:04}"));
                if i % 2 == 1 {
                    o.models = ok(403, json!({"error": "Invalid authentication token"}));
                }
                o
            })
            .collect();
        let f = assess(&obs, false);
        let rejected: Vec<_> = f
            .iter()
            .filter(|x| x.code == Code::TokenRejectedOnNode)
            .collect();
        assert_eq!(rejected.len(), 500);
        let longest = f.iter().map(|x| x.message.len()).max().unwrap_or(0);
        assert!(longest < 400, "{longest}: {}", rejected[0].message);
        assert!(
            rejected[0].message.contains("and 497 other nodes"),
            "{}",
            rejected[0].message
        );
    }
}
