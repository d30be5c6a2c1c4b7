//! The probe engine: runs the selected probes concurrently under one overall
//! deadline and turns their findings into a [`Report`].
//!
//! Timeouts and fan-out live here and in [`crate::http`], not in each probe.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::Serialize;
use tracing::Instrument;

use crate::config::Config;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::Http;
use crate::inert::inert;
use crate::secret::Redactor;
use crate::verdict::{self, Symptom, Verdict};

pub use crate::probe::context::{ProbeContext, Scope};

/// The result of a run: the public JSON contract.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Report {
    pub cluster: String,
    pub status: Severity,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub elapsed_ms: u64,
    /// How long each probe took (for metrics; not part of the JSON contract).
    #[serde(skip)]
    pub timings: Vec<(ProbeKind, u64)>,
}

impl Report {
    /// Builds the report from findings (pure apart from the given elapsed time).
    pub fn from_findings(
        cluster: &str,
        findings: Vec<Finding>,
        symptom: Option<Symptom>,
        elapsed_ms: u64,
    ) -> Report {
        // Whatever a server said is made inert here, before any verdict or
        // renderer sees it: every surface shows the same safe text.
        let findings: Vec<Finding> = findings
            .into_iter()
            .map(|mut f| {
                if let Cow::Owned(s) = inert(&f.message) {
                    f.message = s;
                }
                if let Cow::Owned(s) = inert(&f.subject) {
                    f.subject = s;
                }
                f
            })
            .collect();
        Report {
            cluster: inert(cluster).into_owned(),
            status: verdict::status(&findings),
            verdict: verdict::decide(&findings, symptom),
            findings,
            elapsed_ms,
            timings: Vec::new(),
        }
    }
}

/// A problem with the request itself (not with the cluster): exit code 3.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// A node name that is not in config.
    #[error("unknown node {0:?}: only nodes listed in [[cluster.nodes]] can be probed")]
    UnknownNode(String),
    /// A route that is not in `[routes] smoke`.
    #[error("unknown route {0:?}: only routes listed in [routes] smoke can be probed")]
    UnknownRoute(String),
    /// A probe whose config section is missing.
    #[error("probe {probe} needs {needs} in the config")]
    NotConfigured { probe: &'static str, needs: String },
}

/// Checks a scope against config: chat and CLI options can only name configured targets.
pub fn validate_scope(config: &Config, scope: &Scope) -> Result<(), ScopeError> {
    for n in &scope.nodes {
        if config.node(n).is_none() {
            return Err(ScopeError::UnknownNode(n.clone()));
        }
    }
    let smoke: &[String] = config
        .routes
        .as_ref()
        .map(|r| r.smoke.as_slice())
        .unwrap_or(&[]);
    for r in &scope.routes {
        if !smoke.contains(r) {
            return Err(ScopeError::UnknownRoute(r.clone()));
        }
    }
    Ok(())
}

/// Why the engine cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct EngineError(#[source] reqwest::Error);

/// The probe runner of one process: the config and one HTTP client, shared
/// by every run (CLI, chat commands, watch ticks).
pub struct Engine {
    config: Arc<Config>,
    http: Http,
}

impl Engine {
    /// Builds the process-wide HTTP client for `config`'s nodes.
    pub fn new(config: Arc<Config>) -> Result<Engine, EngineError> {
        let http = Http::new(Duration::from_millis(config.cluster.timeout_ms))
            .and_then(|h| {
                h.with_redactor(config.redactor()).with_insecure(
                    config
                        .cluster
                        .nodes
                        .iter()
                        .filter(|n| n.tls_insecure)
                        .map(|n| &n.url),
                )
            })
            .map_err(EngineError)?;
        Ok(Engine { config, http })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Runs `kinds` against the cluster and returns the report. Never fails:
    /// every problem met on the way is a finding.
    pub async fn run(&self, kinds: &[ProbeKind], scope: Scope) -> Report {
        self.run_capped(kinds, scope, Duration::MAX).await
    }

    /// [`Engine::run`] with the overall deadline at most `cap`.
    pub async fn run_capped(&self, kinds: &[ProbeKind], scope: Scope, cap: Duration) -> Report {
        let config = &self.config;
        let started = Instant::now();
        let deadline = started + Duration::from_millis(config.cluster.deadline_ms).min(cap);
        let symptom = scope.symptom;
        let ctx = ProbeContext {
            config: config.clone(),
            http: self.http.clone().with_deadline(deadline),
            scope,
            deadline,
        };
        let (findings, timings) = run_timed(&ctx, kinds).await;
        let findings = dedupe(redact(findings, &config.redactor()));
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut report = Report::from_findings(&config.cluster.name, findings, symptom, elapsed);
        // Per-probe durations feed the metrics' histograms.
        report.timings = timings;
        report
    }
}

/// Runs `kinds` once with a client of its own (one-shot callers: the demo,
/// benches, tests).
pub async fn run(
    config: Arc<Config>,
    kinds: &[ProbeKind],
    scope: Scope,
) -> Result<Report, EngineError> {
    Ok(Engine::new(config)?.run(kinds, scope).await)
}

/// Time a probe gets past the overall deadline to judge what its requests
/// (all ended by the deadline) saw.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// Runs the probes concurrently; a probe still running at the deadline is
/// dropped and reported as [`Code::ProbeDeadline`].
pub async fn run_probes(ctx: &ProbeContext, kinds: &[ProbeKind]) -> Vec<Finding> {
    run_timed(ctx, kinds).await.0
}

async fn run_timed(
    ctx: &ProbeContext,
    kinds: &[ProbeKind],
) -> (Vec<Finding>, Vec<(ProbeKind, u64)>) {
    let runs = kinds.iter().map(|&kind| {
        let spec = kind.spec();
        let span = tracing::info_span!("probe", probe = kind.as_str());
        async move {
            if let Err(needs) = spec.requires(&ctx.config) {
                let skipped = vec![Finding::new(
                    kind,
                    Severity::Warn,
                    kind.as_str(),
                    Code::ProbeNotConfigured,
                    format!("skipped: needs {needs} in the config"),
                )];
                return (skipped, None);
            }
            let started = Instant::now();
            // Every request ends at the deadline, so probes finish with what
            // they saw; the hard cut after a grace is the last resort, and
            // what it leaves is unknown, never a warning that hides an outage.
            let cut = ctx.remaining() + DEADLINE_GRACE;
            let findings = match tokio::time::timeout(cut, spec.probe.run(ctx)).await {
                Ok(findings) => findings,
                Err(_) => vec![Finding::new(
                    kind,
                    Severity::Unknown,
                    kind.as_str(),
                    Code::ProbeDeadline,
                    format!(
                        "probe {} did not finish within the overall deadline of {} ms",
                        kind.as_str(),
                        ctx.config.cluster.deadline_ms
                    ),
                )],
            };
            let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            (findings, Some((kind, took)))
        }
        .instrument(span)
    });
    let mut findings = Vec::new();
    let mut timings = Vec::new();
    for (f, t) in join_all(runs).await {
        findings.extend(f);
        timings.extend(t);
    }
    (findings, timings)
}

/// Keeps one finding per (subject, code): probes that share a request (health
/// and lb both ask the nodes) would otherwise report the same fact twice.
pub fn dedupe(findings: Vec<Finding>) -> Vec<Finding> {
    // Linear: a map from (subject, code) to the kept finding's position.
    let mut at: std::collections::HashMap<(String, Code), usize> =
        std::collections::HashMap::with_capacity(findings.len());
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        match at.get(&(f.subject.clone(), f.code)) {
            Some(&i) if f.severity > out[i].severity => out[i] = f,
            Some(_) => {}
            None => {
                at.insert((f.subject.clone(), f.code), out.len());
                out.push(f);
            }
        }
    }
    out
}

/// The probes `diagnose` runs: every probe the config allows, the symptom's
/// suspects first (the probe that looks first at the first suspect layer).
pub fn diagnose_kinds(config: &Config, symptom: Option<Symptom>) -> Vec<ProbeKind> {
    let mut kinds: Vec<ProbeKind> = ProbeKind::ALL
        .into_iter()
        .filter(|k| k.spec().requires(config).is_ok())
        .collect();
    if let Some(s) = symptom {
        let suspect = |k: &ProbeKind| {
            s.suspects()
                .iter()
                .position(|l| k.spec().first_look_at.contains(l))
                .unwrap_or(usize::MAX)
        };
        kinds.sort_by_key(suspect);
    }
    kinds
}

fn redact(findings: Vec<Finding>, redactor: &Redactor) -> Vec<Finding> {
    findings
        .into_iter()
        .map(|mut f| {
            f.message = redactor.scrub(&f.message);
            f.subject = redactor.scrub(&f.subject);
            f
        })
        .collect()
}
