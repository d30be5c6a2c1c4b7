//! Pure judgement over the matrix: a route failing on every node is the route
//! or its provider; failing on some nodes only is those nodes.

use std::collections::BTreeMap;

use super::answers::{distinct_answers, quote};
use super::latency::slow_nodes;
use super::observe::Cell;
use super::response_cache::response_cache;
use crate::aisbf::{self, ChatResult};
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::FailureKind;

/// Pure judgement over the matrix.
pub fn assess(cells: &[Cell]) -> Vec<Finding> {
    let mut findings = Vec::new();
    // node → [(route, what went wrong)] for failures on some nodes only.
    let mut node_failures: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut routes: Vec<&str> = Vec::new();
    for c in cells {
        if !routes.contains(&c.route.as_str()) {
            routes.push(&c.route);
        }
    }

    for route in routes {
        let node_cells: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.route == route && !c.is_balancer)
            .collect();
        let ok: Vec<&Cell> = node_cells
            .iter()
            .copied()
            .filter(|c| c.result.is_ok())
            .collect();
        let failed: Vec<&Cell> = node_cells
            .iter()
            .copied()
            .filter(|c| !c.result.is_ok())
            .collect();

        if !node_cells.is_empty() && failed.len() == node_cells.len() {
            findings.extend(fails_everywhere(route, &failed));
        } else {
            for c in &failed {
                node_failures
                    .entry(c.target.as_str())
                    .or_default()
                    .push(format!("{route}: {}", quote(&c.result)));
            }
            if !ok.is_empty() {
                findings.push(route_ok(route, &ok, node_cells.len()));
                findings.extend(slow_nodes(route, cells));
            }
        }

        for b in cells.iter().filter(|c| c.route == route && c.is_balancer) {
            if !b.result.is_ok() && failed.is_empty() && !node_cells.is_empty() {
                findings.push(Finding::new(
                    ProbeKind::Routes,
                    Severity::Fail,
                    &b.target,
                    Code::RouteFailsViaBalancer,
                    format!(
                        "{route} fails through the balancer ({}) but answers on every configured node",
                        b.result.describe()
                    ),
                ));
            }
        }
    }

    for (node, failures) in node_failures {
        findings.push(Finding::new(
            ProbeKind::Routes,
            Severity::Fail,
            node,
            Code::RouteFailsOnNode,
            format!(
                "fails on this node only, while other nodes answer: {}",
                failures.join("; ")
            ),
        ));
    }
    findings.extend(response_cache(cells));
    findings
}

fn fails_everywhere(route: &str, failed: &[&Cell]) -> Vec<Finding> {
    let fail = |subject: &str, code, msg: String| {
        Finding::new(ProbeKind::Routes, Severity::Fail, subject, code, msg)
    };
    let first = failed[0];
    let all = |p: fn(&ChatResult) -> bool| failed.iter().all(|c| p(&c.result));

    if all(|r| matches!(r, ChatResult::MalformedRoute { .. })) {
        // AISBF's answer text says whether the route is global (admin only).
        if let ChatResult::MalformedRoute { detail } = &first.result
            && detail.contains("admin users")
        {
            return vec![fail(
                route,
                Code::RouteMalformed,
                format!(
                    "every node answers 400: {route:?} is a global route, which 0.99.92 serves to admin users only; call the user's own user-provider/, user-rotation/ or user-autoselect/ route instead"
                ),
            )];
        }
        let hint = match aisbf::suggest_route(route) {
            Some(s) => format!(" Use {s} (or the global form with an admin token)."),
            None => " Route names are kind/name, e.g. user-rotation/NAME.".to_string(),
        };
        return vec![fail(
            route,
            Code::RouteMalformed,
            format!(
                "every node answers 400 \"Model must be in format ...\": the route name {route:?} is malformed, not down.{hint}"
            ),
        )];
    }
    if all(|r| matches!(r, ChatResult::NoAnswer(_))) {
        // Nothing answered at all: the nodes, not the route.
        return failed
            .iter()
            .map(|c| {
                let code = match &c.result {
                    ChatResult::NoAnswer(f) if f.kind == FailureKind::Timeout => Code::NodeTimeout,
                    _ => Code::NodeUnreachable,
                };
                fail(&c.target, code, format!("{route}: {}", c.result.describe()))
            })
            .collect();
    }
    if all(|r| matches!(r, ChatResult::Refused(_))) {
        return vec![fail(
            "token",
            Code::TokenRejected,
            format!(
                "every node refuses the smoke request for {route}: {}",
                distinct_answers(failed)
            ),
        )];
    }
    let provider = failed
        .iter()
        .filter(|c| matches!(c.result, ChatResult::ProviderFailed { .. }))
        .count();
    let code = if provider * 2 > failed.len() {
        Code::RouteProviderDown
    } else {
        Code::RouteBroken
    };
    let what = if code == Code::RouteProviderDown {
        "its provider is down, too slow or refusing (edit the route: another provider, or fix the provider)"
    } else {
        "the route itself fails"
    };
    vec![fail(
        route,
        code,
        format!("fails on every node ({}): {what}", distinct_answers(failed)),
    )]
}

pub(super) fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn route_ok(route: &str, ok: &[&Cell], total: usize) -> Finding {
    let mut models: Vec<&str> = Vec::new();
    for c in ok {
        if let ChatResult::Answered { model } = &c.result
            && !models.contains(&model.as_str())
        {
            models.push(model);
        }
    }
    let med = median(ok.iter().map(|c| c.latency_ms).collect());
    Finding::new(
        ProbeKind::Routes,
        Severity::Ok,
        route,
        Code::RouteOk,
        format!(
            "answered by {} on {}/{} nodes, median {med} ms",
            models.join(", "),
            ok.len(),
            total
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Failure;
    use crate::probe::routes::fixtures::*;
    use crate::probe::target::BALANCER;

    #[test]
    fn route_down_on_every_node_is_the_provider() {
        let f = assess(&[
            cell("r", "a", provider_down()),
            cell("r", "b", provider_down()),
        ]);
        assert_eq!(codes(&f), vec![("r".into(), Code::RouteProviderDown)]);
    }

    #[test]
    fn route_failing_on_one_node_is_that_node() {
        let f = assess(&[
            cell("r", "a", answered()),
            cell("r", "b", answered()),
            cell("r", "c", provider_down()),
        ]);
        assert!(codes(&f).contains(&("c".into(), Code::RouteFailsOnNode)));
        assert!(codes(&f).contains(&("r".into(), Code::RouteOk)));
    }

    #[test]
    fn colon_route_is_malformed_with_a_suggestion() {
        let m = || ChatResult::MalformedRoute {
            detail: "Model must be in format 'provider/model'".into(),
        };
        let f = assess(&[
            cell("rotation:support", "a", m()),
            cell("rotation:support", "b", m()),
        ]);
        assert_eq!(
            codes(&f),
            vec![("rotation:support".into(), Code::RouteMalformed)]
        );
        assert!(
            f[0].message.contains("user-rotation/support"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn node_errors_everywhere_are_a_broken_route() {
        let e = || ChatResult::NodeError {
            status: 404,
            detail: "not found".into(),
        };
        let f = assess(&[cell("r", "a", e()), cell("r", "b", e())]);
        assert_eq!(codes(&f), vec![("r".into(), Code::RouteBroken)]);
    }

    #[test]
    fn nothing_answering_is_the_nodes_not_the_route() {
        let none = || {
            ChatResult::NoAnswer(Failure {
                kind: FailureKind::Refused,
                latency_ms: 1,
                detail: String::new(),
            })
        };
        let f = assess(&[cell("r", "a", none()), cell("r", "b", none())]);
        assert_eq!(
            codes(&f),
            vec![
                ("a".into(), Code::NodeUnreachable),
                ("b".into(), Code::NodeUnreachable)
            ]
        );
    }

    #[test]
    fn balancer_only_failure_is_a_balancer_finding() {
        let f = assess(&[
            cell("r", "a", answered()),
            cell("r", "b", answered()),
            cell("r", BALANCER, provider_down()),
        ]);
        assert!(codes(&f).contains(&(BALANCER.into(), Code::RouteFailsViaBalancer)));
    }

    #[test]
    fn route_failing_everywhere_quotes_each_distinct_answer_with_its_nodes() {
        let bare = || ChatResult::NodeError {
            status: 500,
            detail: "non-JSON body \"Internal Server Error\"".into(),
        };
        let stale = ChatResult::NodeError {
            status: 400,
            detail: "User rotation 'x' not found. Available: ['a']".into(),
        };
        let f = assess(&[
            cell("r", "aisbf-1", bare()),
            cell("r", "aisbf-2", stale),
            cell("r", "aisbf-3", bare()),
        ]);
        assert_eq!(codes(&f), vec![("r".into(), Code::RouteBroken)]);
        assert!(
            f[0].message.contains(
                "aisbf-1, aisbf-3: 500 \"Internal Server Error\"; aisbf-2: 400 \"User rotation 'x' not found. Available: ['a']\""
            ),
            "{}",
            f[0].message
        );
    }
}
