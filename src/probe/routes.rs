//! `check routes`: the smoke matrix, one minimal chat completion per route × node
//! (and through the balancer).
//!
//! Smoke requests cost money (each is a real completion with `max_tokens: 1`),
//! so the matrix is exactly what `[routes] smoke` lists, at `[routes] concurrency`.
//! A route failing on every node is the route or its provider (`edit_routes`);
//! failing on some nodes only is infrastructure on those nodes.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::{StreamExt, stream};

use crate::aisbf::{self, ChatResult};
use crate::config::Config;
use crate::engine::ProbeContext;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::FailureKind;
use crate::probe::health::join;
use crate::probe::token::BALANCER;

pub struct RoutesProbe;

impl super::Probe for RoutesProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Routes
    }

    fn requires(&self, config: &Config) -> Result<(), String> {
        match &config.routes {
            Some(r) if !r.smoke.is_empty() => Ok(()),
            _ => Err("[routes] smoke = [...]".into()),
        }
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let cells = observe(ctx).await;
            assess(&cells)
        })
    }
}

/// One route on one target.
#[derive(Debug, Clone)]
pub struct Cell {
    pub route: String,
    pub target: String,
    pub is_balancer: bool,
    pub result: ChatResult,
    pub latency_ms: u64,
}

async fn observe(ctx: &ProbeContext) -> Vec<Cell> {
    let Some(routes) = &ctx.config.routes else {
        return Vec::new();
    };
    let c = &ctx.config.cluster;
    let selected: Vec<&String> = routes
        .smoke
        .iter()
        .filter(|r| ctx.scope.routes.is_empty() || ctx.scope.routes.contains(r))
        .collect();
    let mut targets: Vec<(String, bool, &url::Url)> = ctx
        .nodes()
        .into_iter()
        .map(|n| (n.name.clone(), false, &n.url))
        .collect();
    if let Some(b) = &c.balancer {
        targets.push((BALANCER.to_string(), true, b));
    }
    let mut requests = Vec::new();
    for route in &selected {
        for (target, is_balancer, base) in &targets {
            let url = join(base, &format!("/api/u/{}/chat/completions", c.user));
            let body = aisbf::smoke_request(route, &routes.prompt);
            let http = &ctx.http;
            let token = &c.token;
            let (route, target, is_balancer) = ((*route).clone(), target.clone(), *is_balancer);
            requests.push(async move {
                let outcome = http.post_json(&url, Some(token), &body).await;
                let latency_ms = match &outcome {
                    Ok(a) => a.latency_ms,
                    Err(f) => f.latency_ms,
                };
                Cell {
                    route,
                    target,
                    is_balancer,
                    result: ChatResult::of(&outcome),
                    latency_ms,
                }
            });
        }
    }
    stream::iter(requests)
        .buffered(routes.concurrency)
        .collect()
        .await
}

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
                    .push(format!("{route}: {}", c.result.describe()));
            }
            if !ok.is_empty() {
                findings.push(route_ok(route, &ok, node_cells.len()));
                findings.extend(slow_nodes(route, &ok));
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
    findings
}

fn fails_everywhere(route: &str, failed: &[&Cell]) -> Vec<Finding> {
    let fail = |subject: &str, code, msg: String| {
        Finding::new(ProbeKind::Routes, Severity::Fail, subject, code, msg)
    };
    let first = failed[0];
    let all = |p: fn(&ChatResult) -> bool| failed.iter().all(|c| p(&c.result));

    if all(|r| matches!(r, ChatResult::MalformedRoute { .. })) {
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
                first.result.describe()
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
        format!(
            "fails on every node ({}: {}): {what}",
            failed.len(),
            first.result.describe()
        ),
    )]
}

fn median(mut v: Vec<u64>) -> u64 {
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

/// A node answering a route 3× slower than the median and at least 3 s more.
/// One sample per cell is noisy (a node's first request to a rotation builds
/// its handler, ~1.5 s on 0.99.92), so smaller gaps are not worth a warning.
fn slow_nodes(route: &str, ok: &[&Cell]) -> Vec<Finding> {
    if ok.len() < 3 {
        return Vec::new();
    }
    let med = median(ok.iter().map(|c| c.latency_ms).collect());
    ok.iter()
        .filter(|c| {
            c.latency_ms > med.saturating_mul(3) && c.latency_ms.saturating_sub(med) >= 3000
        })
        .map(|c| {
            Finding::new(
                ProbeKind::Routes,
                Severity::Warn,
                &c.target,
                Code::RouteSlowOnNode,
                format!("{route} takes {} ms here, median {med} ms", c.latency_ms),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Failure;

    fn cell(route: &str, target: &str, result: ChatResult) -> Cell {
        Cell {
            route: route.into(),
            target: target.into(),
            is_balancer: target == BALANCER,
            result,
            latency_ms: 100,
        }
    }

    fn answered() -> ChatResult {
        ChatResult::Answered {
            model: "llama3".into(),
        }
    }

    fn provider_down() -> ChatResult {
        ChatResult::ProviderFailed {
            status: 500,
            detail: "Connection error.".into(),
        }
    }

    fn codes(f: &[Finding]) -> Vec<(String, Code)> {
        f.iter().map(|x| (x.subject.clone(), x.code)).collect()
    }

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
    fn slow_node_is_a_latency_warning() {
        let mut slow = cell("r", "c", answered());
        slow.latency_ms = 4000;
        let f = assess(&[cell("r", "a", answered()), cell("r", "b", answered()), slow]);
        assert!(codes(&f).contains(&("c".into(), Code::RouteSlowOnNode)));
    }
}
