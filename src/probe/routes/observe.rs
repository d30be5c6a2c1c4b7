//! The I/O of `check routes`: one minimal chat completion per route and
//! target, and a second timed request for a cell that looked slow.

use std::collections::HashMap;

use futures::future::BoxFuture;

use super::latency::slow_candidates;
use crate::aisbf::{self, ChatResult};
use crate::http::{FailureKind, Http};
use crate::probe::context::{ProbeContext, bounded_in_order};
use crate::probe::target::{join, nodes_and_balancer};
use crate::secret::Secret;

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

impl Cell {
    /// The run's deadline ended (or left no time for) this cell's request.
    pub fn cut_by_deadline(&self) -> bool {
        matches!(&self.result, ChatResult::NoAnswer(f) if f.by_deadline())
    }
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
            .field("id")
            .and_then(|v| v.as_str().map(str::to_string)),
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
pub(super) async fn observe(ctx: &ProbeContext) -> Vec<Cell> {
    let Some(routes) = &ctx.config.routes else {
        return Vec::new();
    };
    let c = &ctx.config.cluster;
    let selected: Vec<&String> = routes
        .smoke
        .iter()
        .filter(|r| ctx.scope.routes.is_empty() || ctx.scope.routes.contains(r))
        .collect();
    let targets = nodes_and_balancer(ctx);
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
    let route_at: HashMap<&str, usize> = selected
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    let target_at: HashMap<&str, usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.0.as_str(), i))
        .collect();
    let order = |cell: &Cell| {
        (
            route_at.get(cell.route.as_str()).copied(),
            target_at.get(cell.target.as_str()).copied(),
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
            let (_, _, base) = targets.get(*target_at.get(cell.target.as_str())?)?;
            let route = selected.get(*route_at.get(cell.route.as_str())?)?;
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
    for (i, second) in bounded_in_order(timed, ctx.config.cluster.concurrency).await {
        let timed_out =
            matches!(&second.result, ChatResult::NoAnswer(f) if f.kind == FailureKind::Timeout);
        if second.result.is_ok() || timed_out {
            cells[i].second_latency_ms = Some(second.latency_ms);
        }
    }
    cells
}
