//! Pure judgement of `check health`: observations in, findings out. Each node
//! on its own here; the comparisons between nodes are in the sibling modules.

use std::collections::{HashMap, HashSet};

use super::answer::{Shape, bad_shape, failure_code, request_failure, server_error};
use super::drift::{clock_skew, compare_global_config, compare_versions, version_of};
use super::latency::{latency_outliers, max_latency};
use super::observe::NodeObservation;
use super::tokens::{compare_global_token, compare_tokens, user_catalogue};
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::Answer;

/// Compares the nodes and reports one or more findings per node.
pub fn assess(obs: &[NodeObservation], has_global_token: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut answering: Vec<&NodeObservation> = Vec::new();
    for o in obs {
        match node_reachability(o) {
            Some(f) => findings.push(f),
            None => answering.push(o),
        }
    }

    // Per-node request failures after the node proved reachable.
    for o in &answering {
        for (path, outcome) in [
            ("/health", &o.health),
            ("/api/u/{user}/models", &o.models),
            ("/api/u/{user}/providers", &o.providers),
        ] {
            if let Some(f) = request_failure(&o.name, path, outcome) {
                findings.push(f);
            }
        }
        if let Some(Ok(a)) = &o.version
            && a.status >= 500
        {
            findings.push(server_error(&o.name, "/api/version", a));
        }
        // A 200 is only an answer when it has the shape AISBF gives: an HTML
        // page, `{}` or invalid UTF-8 is not "up".
        for (path, outcome, shape) in [
            ("/health", Some(&o.health), Shape::Status),
            ("/api/version", o.version.as_ref(), Shape::Version),
            ("/api/u/{user}/models", Some(&o.models), Shape::ModelList),
            (
                "/api/u/{user}/providers",
                Some(&o.providers),
                Shape::Providers,
            ),
        ] {
            if let Some(f) = outcome.and_then(|oc| bad_shape(&o.name, path, oc, shape)) {
                findings.push(f);
            }
        }
    }

    compare_global_config(&answering, &mut findings);
    compare_tokens(&answering, &mut findings);
    if has_global_token {
        compare_global_token(&answering, &mut findings);
    } else {
        for o in &answering {
            if let Ok(a) = &o.health
                && matches!(a.status, 401 | 403)
            {
                findings.push(Finding::new(
                    ProbeKind::Health,
                    Severity::Ok,
                    &o.name,
                    Code::HealthAuthGated,
                    format!(
                        "GET /health answered {} (auth-gated: the process is up; set cluster.global_token for the full check)",
                        a.status
                    ),
                ));
            }
        }
    }
    compare_versions(&answering, &mut findings);
    clock_skew(&answering, &mut findings);
    latency_outliers(&answering, &mut findings);

    // One ok line for every node nothing was wrong with (sets and maps keep
    // this linear in the number of nodes and findings).
    let troubled: HashSet<String> = findings
        .iter()
        .filter(|f| f.severity > Severity::Ok)
        .map(|f| f.subject.clone())
        .collect();
    for o in &answering {
        if !troubled.contains(&o.name) {
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Ok,
                &o.name,
                Code::NodeOk,
                ok_line(o),
            ));
        }
    }
    // Every finding about a node carries its latency, for charts and metrics.
    let latency: HashMap<&str, Option<u64>> = obs
        .iter()
        .map(|o| (o.name.as_str(), max_latency(o)))
        .collect();
    for f in &mut findings {
        if let Some(l) = latency.get(f.subject.as_str()) {
            f.latency_ms = *l;
        }
    }
    order_by_node(obs, findings)
}

fn ok_line(o: &NodeObservation) -> String {
    let mut parts = vec!["up".to_string()];
    if let Some(v) = version_of(o) {
        parts.push(format!("AISBF {v}"));
    }
    if let Some(ids) = user_catalogue(o) {
        parts.push(format!("{} user routes", ids.len()));
    }
    parts.push(format!("{} ms", max_latency(o).unwrap_or(0)));
    parts.join(", ")
}

/// Keeps the findings in config order of nodes, other subjects last.
fn order_by_node(obs: &[NodeObservation], mut findings: Vec<Finding>) -> Vec<Finding> {
    let at: HashMap<&str, usize> = obs
        .iter()
        .enumerate()
        .map(|(i, o)| (o.name.as_str(), i))
        .collect();
    let pos = |subject: &str| at.get(subject).copied().unwrap_or(usize::MAX);
    findings.sort_by_key(|f| pos(&f.subject));
    findings
}

pub(super) fn node_reachability(o: &NodeObservation) -> Option<Finding> {
    let fail = |code, msg: String| {
        Some(Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            &o.name,
            code,
            msg,
        ))
    };
    match &o.root {
        Err(f) => fail(failure_code(f), format!("GET / failed: {}", f.describe())),
        Ok(a) if a.status >= 500 => Some(server_error(&o.name, "/", a)),
        Ok(a) if matches!(a.body, crate::http::Body::Redirect { .. }) => fail(
            Code::NodeRedirect,
            format!("GET / answered {} with {}", a.status, a.body.describe()),
        ),
        Ok(a) if a.status != 200 || !looks_like_aisbf(a) => fail(
            Code::NodeBadAnswer,
            format!(
                "GET / answered {} with {}: this does not look like an AISBF node",
                a.status,
                a.body.describe()
            ),
        ),
        Ok(_) => None,
    }
}

fn looks_like_aisbf(a: &Answer) -> bool {
    a.body
        .json()
        .is_some_and(|v| v.get("providers").is_some() || v.get("message").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Answer, Body, Failure, FailureKind};
    use crate::probe::health::fixtures::*;

    #[test]
    fn healthy_nodes_are_ok_and_auth_gated_health_is_not_down() {
        let f = assess(&[healthy("a"), healthy("b"), healthy("c")], false);
        assert_all_ok(&f, "a");
    }

    #[test]
    fn refused_and_hung_nodes_are_reported_by_kind() {
        let mut b = healthy("b");
        b.root = Err(Failure {
            kind: FailureKind::Refused,
            latency_ms: 1,
            detail: String::new(),
        });
        let mut c = healthy("c");
        c.root = Err(Failure {
            kind: FailureKind::Timeout,
            latency_ms: 500,
            detail: String::new(),
        });
        let f = assess(&[healthy("a"), b, c], false);
        assert_eq!(codes_for(&f, "b"), vec![Code::NodeUnreachable]);
        assert_eq!(codes_for(&f, "c"), vec![Code::NodeTimeout]);
    }

    #[test]
    fn garbage_and_5xx_roots_are_bad_answers() {
        let mut b = healthy("b");
        b.root = Ok(Answer {
            status: 200,
            latency_ms: 1,
            body: Body::Text("<html>".into()),
        });
        let mut c = healthy("c");
        c.root = Ok(Answer {
            status: 502,
            latency_ms: 1,
            body: Body::Text("Bad Gateway".into()),
        });
        let f = assess(&[healthy("a"), b, c], false);
        assert_eq!(codes_for(&f, "b"), vec![Code::NodeBadAnswer]);
        assert_eq!(codes_for(&f, "c"), vec![Code::NodeServerError]);
    }
}
