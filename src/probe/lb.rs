//! `check lb`: "every other request fails".
//!
//! Sends `[lb] requests` requests (default 12) through `cluster.balancer`, each on
//! a fresh connection, `cluster.concurrency` at a time, and compares the failure pattern with each node probed
//! directly. Failures through the balancer while every configured node is
//! healthy mean the balancer routes to a member that is not (or no longer) a
//! healthy node; one failing node explains a ~1/N failure rate.

use std::collections::BTreeSet;

use futures::future::BoxFuture;

use crate::aisbf;
use crate::config::Config;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::Outcome;
use crate::probe::context::{ProbeContext, bounded_in_order};
use crate::probe::health::{self, NodeObservation};
use crate::probe::target::{BALANCER, join, model_ids};
use crate::probe::{NotConfigured, partial};

pub struct LbProbe;

impl super::Probe for LbProbe {
    fn requires(&self, config: &Config) -> Result<(), NotConfigured> {
        match config.cluster.balancer {
            Some(_) => Ok(()),
            None => Err(NotConfigured::needs("cluster.balancer")),
        }
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let (samples, nodes) = tokio::join!(sample(ctx), health::observe(ctx));
            let has_global = ctx.config.cluster.global_token.is_some();
            let mut findings = direct_findings(&nodes, has_global);
            findings.extend(assess(&samples, &nodes));
            // Fewer samples than asked: say how many, never "ok".
            if !samples.is_empty() {
                findings.extend(partial::incomplete(
                    ProbeKind::Lb,
                    BALANCER,
                    samples.len(),
                    ctx.config.lb.requests,
                    "requests sent through the balancer before the deadline",
                ));
            }
            findings
        })
    }
}

/// `[lb] requests` requests through the balancer, `cluster.concurrency` at a
/// time, each on a fresh connection (the shared client keeps no idle ones),
/// so a balancer that balances per connection spreads them over its members.
/// Only the requests that were really sent and ended on their own are
/// samples: one the deadline cut is no evidence about the balancer.
async fn sample(ctx: &ProbeContext) -> Vec<Outcome> {
    let c = &ctx.config.cluster;
    let Some(balancer) = &c.balancer else {
        return Vec::new();
    };
    let url = join(balancer, &format!("/api/u/{}/models", c.user));
    let requests: Vec<_> = (0..ctx.config.lb.requests)
        .map(|_| sample_one(ctx, &url))
        .collect();
    bounded_in_order(requests, c.concurrency)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// One request through the balancer; `None` when the deadline left no room
/// for it (no request starts in the last timeout: the verdict needs time).
async fn sample_one(ctx: &ProbeContext, url: &url::Url) -> Option<Outcome> {
    if ctx.remaining() < ctx.http.timeout() {
        return None;
    }
    let outcome = ctx.http.get(url, Some(&ctx.config.cluster.token)).await;
    match &outcome {
        Err(f) if f.by_deadline() => None,
        _ => Some(outcome),
    }
}

fn sample_ok(o: &Outcome) -> Option<BTreeSet<String>> {
    match o {
        Ok(a) if a.status == 200 => model_ids(a),
        _ => None,
    }
}

fn describe_failure(o: &Outcome) -> String {
    match o {
        Ok(a) => format!("{} {}", a.status, aisbf::reason(a)),
        Err(f) => f.describe(),
    }
}

/// Why a node fails when asked directly, if it does.
fn node_failure(n: &NodeObservation) -> Option<String> {
    match (&n.root, &n.models) {
        (Err(f), _) => Some(f.describe()),
        (Ok(a), _) if a.status >= 500 => Some(format!("GET / answered {}", a.status)),
        (_, Err(f)) => Some(f.describe()),
        (_, Ok(a)) if a.status != 200 => Some(format!("{} {}", a.status, aisbf::reason(a))),
        _ => None,
    }
}

/// What the nodes show when asked directly (the health probe's judgement of
/// the same answers), problems only. The balancer merely relays these, so
/// `check lb` alone must carry them for the verdict to rank by cause.
pub fn direct_findings(nodes: &[NodeObservation], has_global_token: bool) -> Vec<Finding> {
    health::assess(nodes, has_global_token)
        .into_iter()
        .filter(|f| f.severity > Severity::Ok)
        .map(|mut f| {
            f.probe = ProbeKind::Lb;
            f
        })
        .collect()
}

/// Pure judgement: the balancer's samples against the nodes asked directly.
pub fn assess(samples: &[Outcome], nodes: &[NodeObservation]) -> Vec<Finding> {
    let k = samples.len();
    if k == 0 {
        return vec![Finding::new(
            ProbeKind::Lb,
            Severity::Unknown,
            BALANCER,
            Code::ProbeDeadline,
            "no request could be sent through the balancer before the deadline",
        )];
    }
    let failures: Vec<&Outcome> = samples.iter().filter(|o| sample_ok(o).is_none()).collect();
    let failed = failures.len();
    let pct = failed * 100 / k;
    let failing_nodes: Vec<(&str, String)> = nodes
        .iter()
        .filter_map(|n| node_failure(n).map(|why| (n.name.as_str(), why)))
        .collect();
    let healthy = nodes.len() - failing_nodes.len();
    let example = failures
        .first()
        .map(|o| describe_failure(o))
        .unwrap_or_default();

    if failed == k && samples.iter().all(Result::is_err) {
        return vec![Finding::new(
            ProbeKind::Lb,
            Severity::Fail,
            BALANCER,
            Code::BalancerUnreachable,
            format!("all {k} requests through the balancer failed: {example}"),
        )];
    }

    if failed > 0 && !failing_nodes.is_empty() {
        return failing_nodes
            .iter()
            .map(|(name, why)| {
                Finding::new(
                    ProbeKind::Lb,
                    Severity::Fail,
                    *name,
                    Code::BalancerFailuresFollowNode,
                    format!(
                        "{failed} of {k} requests through the balancer failed ({pct}%, e.g. {example}); {name} fails when asked directly ({why}), which explains about 1 in {} failing",
                        nodes.len().max(1)
                    ),
                )
            })
            .collect();
    }

    if failed > 0 {
        // d dead members among N healthy ones fail d/(N+d) of requests.
        let rate = failed as f64 / k as f64;
        let dead = if rate < 1.0 {
            ((rate * healthy as f64) / (1.0 - rate)).round().max(1.0) as usize
        } else {
            1
        };
        return vec![Finding::new(
            ProbeKind::Lb,
            Severity::Fail,
            BALANCER,
            Code::BalancerDeadMember,
            format!(
                "{failed} of {k} requests through the balancer failed ({pct}%, e.g. {example}) while all {healthy} configured nodes answer when asked directly: the balancer routes to a member that is not (or no longer) a healthy node; the rate fits about {dead} such member(s) beside the {healthy} healthy ones"
            ),
        )];
    }

    // No failures: every answer should match some configured node's answer.
    let known: std::collections::HashSet<BTreeSet<String>> =
        nodes.iter().filter_map(|n| sample_ok(&n.models)).collect();
    let unknown = samples
        .iter()
        .filter_map(sample_ok)
        .filter(|ids| !known.is_empty() && !known.contains(ids))
        .count();
    if unknown > 0 {
        return vec![Finding::new(
            ProbeKind::Lb,
            Severity::Fail,
            BALANCER,
            Code::BalancerUnknownMember,
            format!(
                "{unknown} of {k} answers through the balancer list models that no configured node lists: the balancer sends traffic to an AISBF node this config does not know"
            ),
        )];
    }
    vec![Finding::new(
        ProbeKind::Lb,
        Severity::Ok,
        BALANCER,
        Code::BalancerOk,
        format!("{k}/{k} requests through the balancer succeeded, each matching a configured node"),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Answer, Body, Failure, FailureKind};
    use serde_json::json;

    fn models(ids: &[&str]) -> Outcome {
        let data: Vec<_> = ids.iter().map(|i| json!({"id": i})).collect();
        Ok(Answer {
            status: 200,
            latency_ms: 1,
            body: Body::Json(json!({"object": "list", "data": data}).into()),
        })
    }

    fn bad_gateway() -> Outcome {
        Ok(Answer {
            status: 502,
            latency_ms: 1,
            body: Body::Text("Bad Gateway".into()),
        })
    }

    fn refused() -> Outcome {
        Err(Failure {
            kind: FailureKind::Refused,
            latency_ms: 1,
            detail: String::new(),
        })
    }

    fn node(name: &str, up: bool) -> NodeObservation {
        let root = if up {
            Ok(Answer {
                status: 200,
                latency_ms: 1,
                body: Body::Json(json!({"providers": []}).into()),
            })
        } else {
            refused()
        };
        NodeObservation {
            name: name.into(),
            root,
            // What AISBF answers: /health auth-gated, the providers object.
            health: Ok(Answer {
                status: 401,
                latency_ms: 1,
                body: Body::Json(
                    json!({"error": "Missing or invalid Authorization header."}).into(),
                ),
            }),
            version: None,
            models: if up { models(&["m"]) } else { refused() },
            providers: Ok(Answer {
                status: 200,
                latency_ms: 1,
                body: Body::Json(json!({"providers": {}}).into()),
            }),
            clock_offset_s: None,
            second_latency_ms: None,
        }
    }

    fn round_robin(pattern: &[bool], k: usize) -> Vec<Outcome> {
        (0..k)
            .map(|i| {
                if pattern[i % pattern.len()] {
                    models(&["m"])
                } else {
                    bad_gateway()
                }
            })
            .collect()
    }

    #[test]
    fn failures_with_every_node_healthy_point_at_a_dead_member() {
        let nodes = [node("a", true), node("b", true), node("c", true)];
        let f = assess(&round_robin(&[true, true, true, false], 12), &nodes);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::BalancerDeadMember);
        assert!(f[0].message.contains("3 of 12"), "{}", f[0].message);
        assert!(
            f[0].message.contains("about 1 such member"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn failures_explained_by_a_failing_node_name_that_node() {
        let nodes = [node("a", true), node("b", false), node("c", true)];
        let f = assess(&round_robin(&[true, false, true], 12), &nodes);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].subject.as_str(), f[0].code),
            ("b", Code::BalancerFailuresFollowNode)
        );
    }

    #[test]
    fn all_ok_matching_nodes_is_ok() {
        let nodes = [node("a", true), node("b", true)];
        let f = assess(&round_robin(&[true], 12), &nodes);
        assert_eq!(f[0].code, Code::BalancerOk);
    }

    #[test]
    fn answers_matching_no_node_are_an_unknown_member() {
        let nodes = [node("a", true), node("b", true)];
        let samples = vec![models(&["m"]), models(&["other"])];
        let f = assess(&samples, &nodes);
        assert_eq!(f[0].code, Code::BalancerUnknownMember);
    }

    #[test]
    fn check_lb_alone_carries_what_the_nodes_show_directly() {
        let nodes = [node("a", true), node("b", false), node("c", true)];
        let direct = direct_findings(&nodes, false);
        assert_eq!(
            direct
                .iter()
                .map(|f| (f.subject.as_str(), f.code))
                .collect::<Vec<_>>(),
            vec![("b", Code::NodeUnreachable)]
        );
        assert!(direct.iter().all(|f| f.probe == ProbeKind::Lb));
    }

    #[test]
    fn unreachable_balancer_is_its_own_finding() {
        let f = assess(&[refused(), refused()], &[node("a", true)]);
        assert_eq!(f[0].code, Code::BalancerUnreachable);
    }
}
