//! Prometheus metrics for `serve`: probe durations, findings by layer and
//! severity, node up/down, Discord posts, leader status. Text format on
//! `GET /metrics` of `[metrics] listen`; `GET /healthz` answers 503 when this
//! replica cannot run the schedule (not leading and the lease server
//! unreachable for longer than the lease TTL).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::engine::Report;

pub mod classic;
use crate::finding::{Code, Severity};
use crate::verdict::{Tier, judgement};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabel {
    probe: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    layer: String,
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    cluster: String,
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

/// The bot's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    probe_duration: Family<ProbeLabel, Histogram>,
    findings: Family<FindingLabels, Counter>,
    node_up: Family<NodeLabel, Gauge>,
    discord_posts: Family<OutcomeLabel, Counter>,
    leader: Gauge,
    runs: Counter,
    lease: Arc<Mutex<LeaseHealth>>,
}

/// What `/healthz` knows about the lease server.
#[derive(Default)]
struct LeaseHealth {
    /// The lease TTL; `None` without a lease (a single replica always runs).
    ttl: Option<Duration>,
    /// Since when the lease server has not answered.
    unreachable_since: Option<Instant>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aisbf_doctor");
        let probe_duration = Family::<ProbeLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 12))
        });
        registry.register(
            "probe_duration_seconds",
            "How long each probe took",
            probe_duration.clone(),
        );
        let findings = Family::<FindingLabels, Counter>::default();
        registry.register(
            "findings",
            "Findings reported, by layer and severity",
            findings.clone(),
        );
        let node_up = Family::<NodeLabel, Gauge>::default();
        registry.register(
            "node_up",
            "1 when the node answered the last health probe, 0 when it did not",
            node_up.clone(),
        );
        let discord_posts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "discord_posts",
            "Messages posted to Discord, by outcome",
            discord_posts.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the watch lease",
            leader.clone(),
        );
        let runs = Counter::default();
        registry.register("runs", "Probe runs finished", runs.clone());
        Self {
            registry: Arc::new(registry),
            probe_duration,
            findings,
            node_up,
            discord_posts,
            leader,
            runs,
            lease: Arc::default(),
        }
    }

    /// Records what a finished run saw.
    pub fn observe(&self, report: &Report) {
        self.runs.inc();
        for (probe, ms) in &report.timings {
            self.probe_duration
                .get_or_create(&ProbeLabel {
                    probe: probe.as_str().to_string(),
                })
                .observe(*ms as f64 / 1000.0);
        }
        for f in &report.findings {
            let layer = <&str>::from(judgement(f.code).0.layer).to_string();
            self.findings
                .get_or_create(&FindingLabels {
                    layer,
                    severity: f.severity.as_str().to_string(),
                })
                .inc();
            // Up or down as the judgement table says: a healthy node code,
            // or a failing code of the "node down" tier.
            let (judged, _) = judgement(f.code);
            let up = match judged.tier {
                _ if f.code == Code::NodeOk => Some(1),
                Tier::NodeDown if f.severity == Severity::Fail => Some(0),
                _ => None,
            };
            if let Some(up) = up {
                self.node_up
                    .get_or_create(&NodeLabel {
                        cluster: label_value(&report.cluster),
                        node: label_value(&f.subject),
                    })
                    .set(up);
            }
        }
    }

    pub fn discord_post(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.discord_posts
            .get_or_create(&OutcomeLabel {
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// This replica runs the schedule only while it holds a lease of `ttl`.
    pub fn set_lease_ttl(&self, ttl: Duration) {
        self.lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ttl = Some(ttl);
    }

    /// Since when the lease server has not answered (`None`: it answers).
    pub fn set_lease_unreachable(&self, since: Option<Instant>) {
        self.lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unreachable_since = since;
    }

    /// What `/healthz` answers: `Err(reason)` when this replica is not the
    /// leader and has not reached the lease server for longer than the lease
    /// TTL, so it cannot run the schedule (nor take over from a dead leader).
    /// A follower that reaches the lease server is healthy.
    pub fn health(&self) -> Result<(), String> {
        if self.leader.get() == 1 {
            return Ok(());
        }
        let lease = self.lease.lock().unwrap_or_else(PoisonError::into_inner);
        match (lease.ttl, lease.unreachable_since) {
            (Some(ttl), Some(since)) if since.elapsed() > ttl => Err(format!(
                "not running the schedule: lease server unreachable for {} s",
                since.elapsed().as_secs()
            )),
            _ => Ok(()),
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            return String::new();
        }
        out
    }

    /// `GET /metrics`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }
}

/// OpenMetrics for a scraper that asks for it (Prometheus does), the classic
/// text format for anything else.
async fn metrics(State(m): State<Metrics>, headers: axum::http::HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if wants_openmetrics {
        return (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            m.render(),
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, classic::CONTENT_TYPE)],
        classic::from_openmetrics(&m.render()),
    )
        .into_response()
}

async fn healthz(State(m): State<Metrics>) -> Response {
    match m.health() {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}

impl Metrics {
    /// `GET /metrics` and `GET /healthz` (`ok`, or 503 with the reason, see
    /// [`Metrics::health`]).
    pub fn app(&self) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state(self.clone())
    }
}

/// Serves [`Metrics::app`] on `listen` until `shutdown` resolves: what
/// `[metrics] listen` starts in `watch` and `serve`. A port that cannot be
/// bound is an error before anything is served.
pub async fn serve(
    listen: std::net::SocketAddr,
    metrics: Metrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = metrics.app();
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    }))
}

/// A label value as the text exposition format wants it: prometheus-client
/// writes values verbatim, so `\\`, `"` and newlines are escaped here (names
/// come from config and findings and may contain any of them).
pub fn label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, ProbeKind};

    #[test]
    fn a_report_moves_node_gauges_findings_and_durations() {
        let m = Metrics::new();
        let mut report = Report::from_findings(
            "prod",
            vec![
                Finding::new(
                    ProbeKind::Health,
                    Severity::Ok,
                    "aisbf-1",
                    Code::NodeOk,
                    "up",
                ),
                Finding::new(
                    ProbeKind::Health,
                    Severity::Fail,
                    "aisbf-2",
                    Code::NodeUnreachable,
                    "down",
                ),
            ],
            None,
            10,
        );
        report.timings = vec![(ProbeKind::Health, 120)];
        m.observe(&report);
        m.discord_post(true);
        m.set_leader(true);
        let text = m.render();
        assert!(
            text.contains("aisbf_doctor_node_up{cluster=\"prod\",node=\"aisbf-1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("aisbf_doctor_node_up{cluster=\"prod\",node=\"aisbf-2\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("aisbf_doctor_findings_total{layer=\"node\",severity=\"fail\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("aisbf_doctor_probe_duration_seconds_count{probe=\"health\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("aisbf_doctor_discord_posts_total{outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(text.contains("aisbf_doctor_leader 1"), "{text}");
    }

    #[test]
    fn health_fails_only_for_a_follower_that_lost_the_lease_server_for_longer_than_the_ttl() {
        let m = Metrics::new();
        m.set_leader(false);
        assert_eq!(m.health(), Ok(()), "no lease: nothing to reach");
        m.set_lease_ttl(Duration::from_secs(2));
        assert_eq!(m.health(), Ok(()), "a follower that reaches Redis");
        let long_ago = Instant::now().checked_sub(Duration::from_secs(3));
        m.set_lease_unreachable(long_ago);
        let reason = m.health().expect_err("unreachable for 3 s, ttl 2 s");
        assert!(
            reason.starts_with("not running the schedule: lease server unreachable for "),
            "{reason}"
        );
        m.set_leader(true);
        assert_eq!(m.health(), Ok(()), "a leader runs the schedule");
        m.set_leader(false);
        m.set_lease_unreachable(Some(Instant::now()));
        assert_eq!(m.health(), Ok(()), "not yet longer than the ttl");
    }
}
