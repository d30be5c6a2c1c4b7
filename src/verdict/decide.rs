//! [`decide`]: findings in, a [`Verdict`] out, ranked by cause.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::cross::{Facts, Reading};
use super::rules::judgement;
use super::summary::{healthy, summarize, unexplained, unknown};
use super::{Action, Layer, Symptom};
use crate::finding::{Finding, Severity};

/// The decision shown to people and monitors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Verdict {
    pub layer: Layer,
    pub action: Action,
    pub culprits: Vec<String>,
    pub summary: String,
    pub first_check: String,
}

/// The overall status: the worst severity among the findings. No finding at
/// all means nothing was checked: unknown, never ok.
pub fn status(findings: &[Finding]) -> Severity {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Unknown)
}

/// Turns findings into a verdict. Pure: same findings, same verdict, whatever
/// the nodes are called and in whichever probe a fact was seen.
///
/// The worst severity present picks the findings that matter; among those the
/// one closest to the cause wins (its [`Tier`], then its row's place in the
/// table, a symptom's suspects first within a tier). Culprits are every subject
/// of those findings that indicts the same layer and action.
pub fn decide(findings: &[Finding], symptom: Option<Symptom>) -> Verdict {
    let worst = status(findings);
    match worst {
        Severity::Ok => return healthy(findings, symptom),
        Severity::Unknown => return unknown(findings, symptom),
        Severity::Warn | Severity::Fail => {}
    }
    let facts = Facts::of(findings);
    let deciding: Vec<(&Finding, Reading)> = findings
        .iter()
        .filter(|f| f.severity == worst)
        .filter_map(|f| facts.read(f).map(|r| (f, r)))
        .collect();
    let suspect = |layer: Layer| symptom.is_some_and(|s| s.suspects().contains(&layer));
    let Some(&(top, top_reading)) = deciding
        .iter()
        .min_by_key(|(_, r)| (r.tier, !suspect(r.layer), r.order))
    else {
        return unexplained(findings, worst, symptom);
    };

    let mut seen = HashSet::new();
    let culprits: Vec<String> = deciding
        .iter()
        .filter(|(_, r)| r.layer == top_reading.layer && r.action == top_reading.action)
        .filter(|(f, _)| seen.insert(f.subject.as_str()))
        .map(|(f, _)| f.subject.clone())
        .collect();
    let summary = summarize(top, top_reading, &culprits, &deciding, findings, symptom);
    Verdict {
        layer: top_reading.layer,
        action: top_reading.action,
        first_check: (judgement(top.code).0.first_check)(&top.subject),
        culprits,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::super::table_tests::{db, f};
    use super::*;
    use crate::finding::{Code, ProbeKind};
    use crate::verdict::{Symptom, Tier, rules};

    #[test]
    fn token_in_db_but_rejected_says_nodes_do_not_read_the_shared_database() {
        let v = decide(
            &[
                db(Severity::Ok, "token", Code::DbTokenActive),
                f(Severity::Fail, "token", Code::TokenRejected),
            ],
            None,
        );
        assert!(
            v.summary
                .contains("the nodes are not reading the shared database"),
            "{}",
            v.summary
        );
        assert_ne!(v.action, Action::FixCredentials);
    }

    #[test]
    fn node_drift_verdict_says_fix_the_node_before_routes() {
        let v = decide(&[f(Severity::Fail, "aisbf-2", Code::ModelsDiffer)], None);
        assert!(
            v.summary
                .contains("Fix aisbf-2 before touching route policy"),
            "{}",
            v.summary
        );
        assert!(v.first_check.contains("aisbf-2"));
    }

    #[test]
    fn symptom_is_echoed_in_the_verdict() {
        let v = decide(
            &[f(Severity::Fail, "aisbf-2", Code::NodeUnreachable)],
            Some(Symptom::EveryOtherRequestFails),
        );
        assert!(
            v.summary
                .starts_with("Symptom \"every-other-request-fails\""),
            "{}",
            v.summary
        );
        let healthy = decide(&[], Some(Symptom::StaleCache));
        assert!(healthy.summary.contains("stale-cache"));
    }

    #[test]
    fn status_is_the_worst_severity_and_nothing_checked_is_unknown() {
        assert_eq!(status(&[]), Severity::Unknown);
        assert_eq!(
            status(&[
                f(Severity::Warn, "a", Code::VersionDrift),
                f(Severity::Ok, "b", Code::NodeOk)
            ]),
            Severity::Warn
        );
    }

    #[test]
    fn every_judgement_row_decides_its_own_layer_action_culprit_and_first_check() {
        for row in rules::JUDGEMENTS {
            if matches!(row.tier, Tier::Healthy | Tier::Doctor) {
                continue;
            }
            let sev = row.severity.max(Severity::Warn);
            let v = decide(&[f(sev, "node-x", row.code)], None);
            assert_eq!(
                (v.layer, v.action, v.culprits.clone()),
                (row.layer, row.action, vec!["node-x".to_string()]),
                "{:?}",
                row.code
            );
            assert_eq!(v.first_check, (row.first_check)("node-x"), "{:?}", row.code);
        }
    }

    #[test]
    fn a_failure_the_nodes_show_directly_outranks_the_same_failure_relayed_by_the_balancer() {
        // Every node refuses an mcp-only token; check lb sees the same refusal.
        let mut findings: Vec<Finding> = ["aisbf-1", "aisbf-2", "aisbf-3"]
            .iter()
            .map(|n| f(Severity::Fail, n, Code::BalancerFailuresFollowNode))
            .collect();
        findings.push(f(Severity::Fail, "token", Code::TokenRejected));
        let v = decide(&findings, None);
        assert_eq!(
            (v.layer, v.action, v.culprits),
            (
                Layer::Auth,
                Action::FixCredentials,
                vec!["token".to_string()]
            )
        );
        // With the shared database knowing the token, it is the database.
        findings.push(f(Severity::Ok, "token", Code::DbTokenActive));
        let v = decide(&findings, None);
        assert_eq!(
            (v.layer, v.action),
            (Layer::Database, Action::EditInfrastructure)
        );
    }

    #[test]
    fn auth_disabled_on_a_node_is_the_auth_layer_whichever_probes_ran() {
        let direct = f(Severity::Fail, "aisbf-2", Code::AuthDisabledOnNode);
        let relayed = f(Severity::Fail, "aisbf-2", Code::BalancerFailuresFollowNode);
        for findings in [vec![direct.clone()], vec![relayed.clone(), direct.clone()]] {
            let v = decide(&findings, None);
            assert_eq!(
                (v.layer, v.action, v.culprits),
                (
                    Layer::Auth,
                    Action::EditInfrastructure,
                    vec!["aisbf-2".to_string()]
                )
            );
        }
    }

    #[test]
    fn renaming_nodes_never_changes_the_layer_or_action() {
        // Equal-tier findings on different nodes: the table order decides, not names.
        for (sqlite_node, tls_node) in [("aisbf-2", "aisbf-1"), ("aisbf-1", "aisbf-2"), ("z", "a")]
        {
            let findings = [
                f(Severity::Fail, tls_node, Code::CacheNodeNotShared),
                f(Severity::Fail, sqlite_node, Code::DbNodeSqlite),
            ];
            let v = decide(&findings, None);
            assert_eq!(
                (v.layer, v.culprits),
                (Layer::Database, vec![sqlite_node.to_string()]),
                "{sqlite_node}/{tls_node}"
            );
        }
    }

    #[test]
    fn an_internal_error_of_the_doctor_is_unknown_and_never_a_culprit() {
        let findings = [Finding::new(
            ProbeKind::Health,
            Severity::Unknown,
            "aisbf-doctor",
            Code::DoctorError,
            "internal error: cannot build an HTTP client",
        )];
        assert_eq!(status(&findings), Severity::Unknown);
        let v = decide(&findings, None);
        assert_eq!((v.layer, v.action), (Layer::None, Action::None));
        assert!(v.culprits.is_empty());
        assert!(v.summary.starts_with("Unknown:"), "{}", v.summary);
        assert!(
            v.summary.contains("cannot build an HTTP client"),
            "{}",
            v.summary
        );
        assert!(!v.summary.contains("follows the node"), "{}", v.summary);
    }

    #[test]
    fn nothing_checked_is_unknown_not_no_problem_found() {
        let v = decide(&[], None);
        assert!(v.summary.starts_with("Unknown:"), "{}", v.summary);
        assert!(!v.summary.contains("No problem found"), "{}", v.summary);
    }

    #[test]
    fn a_latency_warning_says_slow_not_fix_before_route_policy() {
        let v = decide(&[f(Severity::Warn, "aisbf-3", Code::LatencyOutlier)], None);
        assert!(v.summary.starts_with("Slow: aisbf-3"), "{}", v.summary);
        assert!(!v.summary.contains("route policy"), "{}", v.summary);
        assert!(!v.summary.contains("failure follows"), "{}", v.summary);
    }

    #[test]
    fn a_summary_names_a_few_culprits_and_counts_the_rest() {
        let findings: Vec<Finding> = (0..1000)
            .map(|i| f(Severity::Fail, &format!("n{i}"), Code::NodeUnreachable))
            .collect();
        let v = decide(&findings, None);
        assert_eq!(v.culprits.len(), 1000);
        assert!(
            v.summary.contains("n0, n1, n2, n3, n4 and 995 more"),
            "{}",
            v.summary
        );
        assert!(v.summary.len() < 600, "{}", v.summary.len());
    }
}
