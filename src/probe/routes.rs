//! `check routes`: the smoke matrix, one minimal chat completion per route × node
//! (and through the balancer).
//!
//! Smoke requests cost money (each is a real completion with `max_tokens: 1`),
//! so the matrix is exactly what `[routes] smoke` lists, at `[routes] concurrency`,
//! plus one second sample for a cell that looked slow. The first route doubles
//! as a response-cache round trip: nodes sharing the cache repeat one `id`.
//! A route failing on every node is the route or its provider (`edit_routes`);
//! failing on some nodes only is infrastructure on those nodes.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use crate::aisbf::{self, ChatResult};
use crate::config::Config;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::{FailureKind, Http};
use crate::probe::context::{ProbeContext, bounded_in_order};
use crate::probe::target::{BALANCER, join};
use crate::secret::Secret;

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
    /// The completion's `id` (200 answers): a response-cache hit repeats it.
    pub id: Option<String>,
    /// A second timed request, sent only for a cell that looked slow (see
    /// [`slow_candidates`]).
    pub second_latency_ms: Option<u64>,
}

/// One planned smoke request.
struct Planned<'a> {
    route: &'a str,
    target: String,
    is_balancer: bool,
    url: url::Url,
    body: serde_json::Value,
}

async fn send(http: &Http, token: &Secret, p: &Planned<'_>) -> Cell {
    let outcome = http.post_json(&p.url, Some(token), &p.body).await;
    let latency_ms = match &outcome {
        Ok(a) => a.latency_ms,
        Err(f) => f.latency_ms,
    };
    let result = ChatResult::of(&outcome);
    let id = match &outcome {
        Ok(a) if result.is_ok() => a
            .body
            .json()
            .and_then(|v| v.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        _ => None,
    };
    Cell {
        route: p.route.to_string(),
        target: p.target.clone(),
        is_balancer: p.is_balancer,
        result,
        latency_ms,
        id,
        second_latency_ms: None,
    }
}

/// Runs the matrix. The first route's node requests go one after another in
/// config order, the rest of the matrix alongside at `routes.concurrency`: on
/// nodes that share AISBF's response cache only the first of them is a paid
/// completion and the others answer the stored body with the same `id`, which
/// is the response-cache round trip [`assess`] reads. Cells that look slow get
/// one second timed request before anything is said about them.
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
    let url = |base: &url::Url| join(base, &format!("/api/u/{}/chat/completions", c.user));
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut chain: Vec<Planned> = Vec::new();
    let mut rest: Vec<Planned> = Vec::new();
    for (i, route) in selected.iter().enumerate() {
        for (target, is_balancer, base) in &targets {
            // The first route's node cells are the response-cache round trip:
            // one after another, with a request nothing else sends.
            let round_trip = i == 0 && !is_balancer;
            let p = Planned {
                route,
                target: target.clone(),
                is_balancer: *is_balancer,
                url: url(base),
                body: if round_trip {
                    aisbf::round_trip_request(route, &routes.prompt, nonce)
                } else {
                    aisbf::smoke_request(route, &routes.prompt)
                },
            };
            if round_trip {
                chain.push(p);
            } else {
                rest.push(p);
            }
        }
    }
    let (http, token) = (&ctx.http, &c.token);
    let mut batches: Vec<BoxFuture<'_, Vec<Cell>>> = Vec::with_capacity(rest.len() + 1);
    let chain = &chain;
    batches.push(Box::pin(async move {
        let mut out = Vec::with_capacity(chain.len());
        for p in chain {
            out.push(send(http, token, p).await);
        }
        out
    }));
    for p in &rest {
        batches.push(Box::pin(async move { vec![send(http, token, p).await] }));
    }
    let batches: Vec<Vec<Cell>> = bounded_in_order(batches, routes.concurrency).await;
    let mut cells: Vec<Cell> = batches.into_iter().flatten().collect();
    // Back to route × target order (the chain's balancer cell ran with the rest).
    let order = |cell: &Cell| {
        (
            selected.iter().position(|r| **r == cell.route),
            targets.iter().position(|t| t.0 == cell.target),
        )
    };
    cells.sort_by_key(|c| order(c));

    // Second samples: the same route with a prompt no cache holds, so the
    // node goes upstream again (one more paid completion, for slow cells only).
    let slow = if ctx.remaining() < ctx.http.timeout() {
        Vec::new() // no time left for a second sample: then no warning either
    } else {
        slow_candidates(&cells)
    };
    let again: Vec<(usize, Planned)> = slow
        .into_iter()
        .filter_map(|i| {
            let cell = &cells[i];
            let (_, _, base) = targets.iter().find(|t| t.0 == cell.target)?;
            let route = selected.iter().find(|r| ***r == cell.route)?;
            Some((
                i,
                Planned {
                    route,
                    target: cell.target.clone(),
                    is_balancer: cell.is_balancer,
                    url: url(base),
                    body: aisbf::uncached_smoke_request(route, &routes.prompt, nonce),
                },
            ))
        })
        .collect();
    let timed: Vec<_> = again
        .iter()
        .map(|(i, p)| async move { (*i, send(http, token, p).await) })
        .collect();
    for (i, second) in futures::future::join_all(timed).await {
        let timed_out =
            matches!(&second.result, ChatResult::NoAnswer(f) if f.kind == FailureKind::Timeout);
        if second.result.is_ok() || timed_out {
            cells[i].second_latency_ms = Some(second.latency_ms);
        }
    }
    cells
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

/// Distinct answers quoted in a finding, and node names per answer.
const MAX_ANSWERS: usize = 3;
const MAX_NAMES: usize = 3;

/// One answer as a finding quotes it: status and AISBF's own text.
fn quote(r: &ChatResult) -> String {
    let text = |detail: &str| {
        // A bare-text body reads `non-JSON body "..."`: keep only the text.
        let inner = detail
            .strip_prefix("non-JSON body \"")
            .and_then(|d| d.strip_suffix('"'))
            .unwrap_or(detail);
        format!("\"{}\"", crate::http::truncate(inner, 120))
    };
    match r {
        ChatResult::MalformedRoute { detail } => format!("400 {}", text(detail)),
        ChatResult::ProviderFailed { status, detail }
        | ChatResult::NodeError { status, detail } => {
            format!("{status} {}", text(detail))
        }
        other => other.describe(),
    }
}

/// Pure: the distinct answers of these cells with the nodes that gave each,
/// e.g. `aisbf-1, aisbf-3: 500 "Internal Server Error"; aisbf-2: 400 "..."`.
/// At most [`MAX_ANSWERS`] answers and [`MAX_NAMES`] names per answer.
pub fn distinct_answers(cells: &[&Cell]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for c in cells {
        let q = quote(&c.result);
        match groups.iter_mut().find(|(a, _)| *a == q) {
            Some((_, names)) => names.push(&c.target),
            None => groups.push((q, vec![&c.target])),
        }
    }
    let mut parts: Vec<String> = groups
        .iter()
        .take(MAX_ANSWERS)
        .map(|(answer, names)| {
            let mut who = names[..names.len().min(MAX_NAMES)].join(", ");
            if names.len() > MAX_NAMES {
                who.push_str(&format!(" and {} more nodes", names.len() - MAX_NAMES));
            }
            format!("{who}: {answer}")
        })
        .collect();
    if groups.len() > MAX_ANSWERS {
        let more = groups.len() - MAX_ANSWERS;
        parts.push(format!(
            "and {more} other answer{}",
            if more == 1 { "" } else { "s" }
        ));
    }
    parts.join("; ")
}

/// Pure: the response-cache round trip on the first route. Nodes sharing one
/// response cache answer the identical request with the stored body, so the
/// same `id`; the largest group of two or more nodes with one `id` is the
/// shared cache (on a tie, the group of the earliest node), and every other
/// node that answered 200 does not share it. Needs two nodes answering 200.
pub fn response_cache(cells: &[Cell]) -> Vec<Finding> {
    let Some(route) = cells.first().map(|c| c.route.as_str()) else {
        return Vec::new();
    };
    let answered: Vec<(&str, &str)> = cells
        .iter()
        .filter(|c| c.route == route && !c.is_balancer && c.result.is_ok())
        .filter_map(|c| c.id.as_deref().map(|id| (c.target.as_str(), id)))
        .collect();
    if answered.len() < 2 {
        return Vec::new();
    }
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (node, id) in &answered {
        match groups.iter_mut().find(|(g, _)| g == id) {
            Some((_, nodes)) => nodes.push(node),
            None => groups.push((id, vec![node])),
        }
    }
    let mut shared: Option<&(&str, Vec<&str>)> = None;
    for g in &groups {
        if g.1.len() >= 2 && shared.is_none_or(|s| g.1.len() > s.1.len()) {
            shared = Some(g);
        }
    }
    let finding = |sev, subject: &str, code, msg: String| {
        Finding::new(ProbeKind::Routes, sev, subject, code, msg)
    };
    let Some((shared_id, sharing)) = shared else {
        return vec![finding(
            Severity::Warn,
            "cache",
            Code::ResponseCacheUnused,
            format!(
                "every node answered the identical {route} request with its own id ({}): nothing is cached or shared; response_cache is disabled on every node, or every node fell back to its own memory cache (Redis unreachable when it started)",
                answered.len()
            ),
        )];
    };
    let mut out = vec![finding(
        Severity::Ok,
        "cache",
        Code::ResponseCacheShared,
        format!(
            "{} answered the identical {route} request with the same id: they share the response cache",
            sharing.join(", ")
        ),
    )];
    for (node, id) in answered.iter().filter(|(_, id)| id != shared_id) {
        out.push(finding(
            Severity::Fail,
            node,
            Code::ResponseCacheNotShared,
            format!(
                "answered the identical {route} request with id {id:?} while {} answered {shared_id:?} from the shared response cache: {node} does not share it (it fell back to its own memory cache because Redis was unreachable when it started, or its response_cache is disabled); its aisbf.json can look identical and the Redis census healthy",
                sharing.join(", ")
            ),
        ));
    }
    out
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

/// The slow rule: 3× the median and at least 3 s more. One sample per cell is
/// noisy (a node's first request to a rotation builds its handler, ~1.5 s on
/// 0.99.92), so a cell must be slow on a second sample too.
fn is_slow(latency_ms: u64, median_ms: u64) -> bool {
    latency_ms > median_ms.saturating_mul(3) && latency_ms.saturating_sub(median_ms) >= 3000
}

/// The answered cells whose latency says how fast the node reaches the
/// provider: a cell whose `id` another node repeats may be a response-cache
/// hit (milliseconds), which would make the one real completion look slow.
fn timed<'a>(ok: &[&'a Cell]) -> Vec<&'a Cell> {
    ok.iter()
        .copied()
        .filter(|c| {
            c.id.as_ref()
                .is_none_or(|id| ok.iter().filter(|o| o.id.as_ref() == Some(id)).count() == 1)
        })
        .collect()
}

/// Median latency and the timed cells of one route, with at least 3 of them.
fn route_timing<'a>(cells: &'a [Cell], route: &str) -> Option<(u64, Vec<&'a Cell>)> {
    let ok: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.route == route && !c.is_balancer && c.result.is_ok())
        .collect();
    let timed = timed(&ok);
    if timed.len() < 3 {
        return None;
    }
    Some((median(timed.iter().map(|c| c.latency_ms).collect()), timed))
}

/// Pure: indices of the cells slow on the first pass; they get a second
/// timed request before any warning.
pub fn slow_candidates(cells: &[Cell]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for c in cells {
        if seen.contains(&c.route.as_str()) {
            continue;
        }
        seen.push(&c.route);
        let Some((med, timed)) = route_timing(cells, &c.route) else {
            continue;
        };
        for t in timed {
            if is_slow(t.latency_ms, med)
                && let Some(i) = cells.iter().position(|x| std::ptr::eq(x, t))
            {
                out.push(i);
            }
        }
    }
    out
}

/// Cells slow on both samples: the fastest of the two is still slow.
fn slow_nodes(route: &str, cells: &[Cell]) -> Vec<Finding> {
    let Some((med, timed)) = route_timing(cells, route) else {
        return Vec::new();
    };
    timed
        .into_iter()
        .filter_map(|c| {
            let second = c.second_latency_ms?;
            let best = c.latency_ms.min(second);
            (is_slow(c.latency_ms, med) && is_slow(best, med)).then(|| {
                Finding::new(
                    ProbeKind::Routes,
                    Severity::Warn,
                    &c.target,
                    Code::RouteSlowOnNode,
                    format!(
                        "{route} takes {best} ms here at best (two samples: {} ms, then {second} ms), median {med} ms",
                        c.latency_ms
                    ),
                )
            })
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
            id: None,
            second_latency_ms: None,
        }
    }

    /// An answered cell with a completion id.
    fn with_id(target: &str, id: &str) -> Cell {
        let mut c = cell("r", target, answered());
        c.id = Some(id.into());
        c
    }

    fn timed(target: &str, first: u64, second: Option<u64>) -> Cell {
        let mut c = cell("r", target, answered());
        c.latency_ms = first;
        c.second_latency_ms = second;
        c
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
    fn node_slow_on_both_samples_is_a_latency_warning() {
        let first = [
            timed("a", 100, None),
            timed("b", 100, None),
            timed("c", 4000, None),
        ];
        assert_eq!(slow_candidates(&first), vec![2]);
        let f = assess(&[
            timed("a", 100, None),
            timed("b", 100, None),
            timed("c", 4000, Some(3900)),
        ]);
        assert!(codes(&f).contains(&("c".into(), Code::RouteSlowOnNode)));
        let msg = &f
            .iter()
            .find(|x| x.code == Code::RouteSlowOnNode)
            .expect("slow")
            .message;
        assert!(msg.contains("3900 ms here at best"), "{msg}");
    }

    #[test]
    fn cold_first_request_then_fast_second_is_no_latency_warning() {
        let f = assess(&[
            timed("a", 100, None),
            timed("b", 100, None),
            timed("c", 4000, Some(120)),
        ]);
        assert!(
            !codes(&f).iter().any(|(_, c)| *c == Code::RouteSlowOnNode),
            "{f:#?}"
        );
        // Without a second sample there is no warning either.
        let f = assess(&[
            timed("a", 100, None),
            timed("b", 100, None),
            timed("c", 4000, None),
        ]);
        assert!(
            !codes(&f).iter().any(|(_, c)| *c == Code::RouteSlowOnNode),
            "{f:#?}"
        );
    }

    #[test]
    fn response_cache_hits_are_not_timed_against_the_real_completion() {
        // a paid the completion (4 s); b, c and d answered a's stored body.
        let mut cells: Vec<Cell> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| with_id(n, "x"))
            .collect();
        cells[0].latency_ms = 4000;
        for c in &mut cells[1..] {
            c.latency_ms = 5;
        }
        assert!(slow_candidates(&cells).is_empty());
    }

    #[test]
    fn node_answering_another_id_does_not_share_the_response_cache() {
        let f = assess(&[with_id("a", "x"), with_id("b", "x"), with_id("c", "y")]);
        let got: Vec<(String, Code, Severity)> = f
            .iter()
            .filter(|x| {
                matches!(
                    x.code,
                    Code::ResponseCacheShared | Code::ResponseCacheNotShared
                )
            })
            .map(|x| (x.subject.clone(), x.code, x.severity))
            .collect();
        assert_eq!(
            got,
            vec![
                ("cache".into(), Code::ResponseCacheShared, Severity::Ok),
                ("c".into(), Code::ResponseCacheNotShared, Severity::Fail),
            ]
        );
    }

    #[test]
    fn first_node_alone_with_its_own_id_is_the_one_not_sharing() {
        let f = assess(&[with_id("a", "x"), with_id("b", "y"), with_id("c", "y")]);
        let odd: Vec<&str> = f
            .iter()
            .filter(|x| x.code == Code::ResponseCacheNotShared)
            .map(|x| x.subject.as_str())
            .collect();
        assert_eq!(odd, vec!["a"]);
    }

    #[test]
    fn every_node_with_its_own_id_means_the_response_cache_is_unused() {
        let f = assess(&[with_id("a", "x"), with_id("b", "y"), with_id("c", "z")]);
        let cache: Vec<(String, Code, Severity)> = f
            .iter()
            .filter(|x| x.subject == "cache" || x.code == Code::ResponseCacheNotShared)
            .map(|x| (x.subject.clone(), x.code, x.severity))
            .collect();
        assert_eq!(
            cache,
            vec![("cache".into(), Code::ResponseCacheUnused, Severity::Warn)]
        );
    }

    #[test]
    fn one_answering_node_says_nothing_about_the_response_cache() {
        let f = assess(&[with_id("a", "x"), cell("r", "b", provider_down())]);
        assert!(
            !f.iter()
                .any(|x| x.subject == "cache" || x.code == Code::ResponseCacheNotShared),
            "{f:#?}"
        );
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

    #[test]
    fn distinct_answers_cap_names_and_answers() {
        let err = |n: u16| ChatResult::NodeError {
            status: n,
            detail: "x".into(),
        };
        let cells: Vec<Cell> = (0..5)
            .map(|i| cell("r", &format!("n{i}"), err(500)))
            .chain((1..=4).map(|i| cell("r", &format!("m{i}"), err(400 + i))))
            .collect();
        let refs: Vec<&Cell> = cells.iter().collect();
        assert_eq!(
            distinct_answers(&refs),
            "n0, n1, n2 and 2 more nodes: 500 \"x\"; m1: 401 \"x\"; m2: 402 \"x\"; and 2 other answers"
        );
    }
}
