//! The I/O of `check health`: the requests to each node and what they answered.

use std::collections::{HashMap, HashSet};

use tracing::Instrument;

use super::latency::{max_latency, outlier_candidates};
use crate::config::Node;
use crate::http::{Http, Outcome};
use crate::probe::context::{ProbeContext, bounded_in_order};
use crate::probe::target::join;
use crate::secret::Secret;

/// What one node answered to the four requests.
#[derive(Debug, Clone)]
pub struct NodeObservation {
    pub name: String,
    pub root: Outcome,
    pub health: Outcome,
    /// `None` when no global token is configured (the endpoint needs one).
    pub version: Option<Outcome>,
    pub models: Outcome,
    /// `GET /api/u/{user}/providers`: 0.99.92 leaves user providers out of the
    /// models list, so their ids come from here.
    pub providers: Outcome,
    /// The node's clock minus ours, in seconds, from the `created` AISBF puts
    /// in the models list (the time of the request on the node).
    pub clock_offset_s: Option<i64>,
    /// The node's latency on a second pass of the same requests, taken only when
    /// the first pass made it look like an outlier (see [`outlier_candidates`]).
    pub second_latency_ms: Option<u64>,
}

impl NodeObservation {
    /// The run's deadline ended (or left no time for) one of its requests.
    pub fn cut_by_deadline(&self) -> bool {
        [
            Some(&self.root),
            Some(&self.health),
            self.version.as_ref(),
            Some(&self.models),
            Some(&self.providers),
        ]
        .into_iter()
        .flatten()
        .any(|o| o.as_ref().is_err_and(crate::http::Failure::by_deadline))
    }
}

/// Observes every node in scope, `cluster.concurrency` nodes at a time.
pub async fn observe(ctx: &ProbeContext) -> Vec<NodeObservation> {
    let cluster = &ctx.config.cluster;
    // Futures are built first: a closure inside the stream trips the
    // higher-ranked lifetime check of the boxed `Send` future.
    let requests: Vec<_> = ctx
        .nodes()
        .into_iter()
        .map(|node| {
            let span = tracing::info_span!("node", node = %node.name);
            observe_in_run(ctx, node).instrument(span)
        })
        .collect();
    bounded_in_order(requests, cluster.concurrency).await
}

/// [`observe_node`] with the run's client and the cluster's credentials.
fn observe_in_run<'a>(
    ctx: &'a ProbeContext,
    node: &'a Node,
) -> impl std::future::Future<Output = NodeObservation> + 'a {
    let c = &ctx.config.cluster;
    // Boxed on first poll (see `bounded_in_order`): five requests' worth.
    async move {
        Box::pin(observe_node(
            &ctx.http,
            node,
            &c.user,
            &c.token,
            c.global_token.as_ref(),
        ))
        .await
    }
}

/// The four requests to one node, concurrently.
pub async fn observe_node(
    http: &Http,
    node: &Node,
    user: &str,
    token: &Secret,
    global_token: Option<&Secret>,
) -> NodeObservation {
    let root = join(&node.url, "/");
    let health = join(&node.url, "/health");
    let version = join(&node.url, "/api/version");
    let models = join(&node.url, &format!("/api/u/{user}/models"));
    let providers = join(&node.url, &format!("/api/u/{user}/providers"));
    let (root, health, version, models, providers) = tokio::join!(
        http.get(&root, None),
        http.get(&health, global_token),
        async {
            match global_token {
                Some(t) => Some(http.get(&version, Some(t)).await),
                None => None,
            }
        },
        http.get(&models, Some(token)),
        http.get(&providers, Some(token)),
    );
    let clock_offset_s = clock_offset(&models, unix_now());
    NodeObservation {
        name: node.name.clone(),
        root,
        health,
        version,
        models,
        providers,
        clock_offset_s,
        second_latency_ms: None,
    }
}

/// Times the same requests once more on each node the first pass made look
/// like a latency outlier: one cold first request (a new connection, a worker
/// waking up) must not make a healthy node an outlier.
pub async fn resample_slow(ctx: &ProbeContext, obs: &mut [NodeObservation]) {
    let slow = outlier_candidates(obs);
    // No second pass that could run past the deadline: then no warning either.
    if slow.is_empty() || ctx.remaining() < ctx.http.timeout() {
        return;
    }
    let slow: HashSet<&str> = slow.iter().map(String::as_str).collect();
    let again: Vec<_> = ctx
        .nodes()
        .into_iter()
        .filter(|n| slow.contains(n.name.as_str()))
        .map(|node| observe_in_run(ctx, node))
        .collect();
    let at: HashMap<String, usize> = obs
        .iter()
        .enumerate()
        .map(|(i, o)| (o.name.clone(), i))
        .collect();
    for second in bounded_in_order(again, ctx.config.cluster.concurrency).await {
        if let Some(o) = at.get(&second.name).and_then(|&i| obs.get_mut(i)) {
            o.second_latency_ms = max_latency(&second);
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The node's clock minus `now`: AISBF stamps every model with the time of the
/// request, so any entry's `created` is the node's clock.
fn clock_offset(models: &Outcome, now: i64) -> Option<i64> {
    let a = models.as_ref().ok().filter(|a| a.status == 200)?;
    let created = a
        .body
        .field("data")?
        .as_array()?
        .iter()
        .filter_map(|m| m.get("created").and_then(serde_json::Value::as_i64))
        .max()?;
    Some(created.saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::health::fixtures::*;
    use serde_json::json;

    #[test]
    fn clock_offset_is_read_from_created_in_the_models_list() {
        let m = ok(200, json!({"data": [{"id": "x", "created": 1_000_300}]}));
        assert_eq!(clock_offset(&m, 1_000_000), Some(300));
        assert_eq!(clock_offset(&ok(403, json!({})), 1_000_000), None);
    }
}
