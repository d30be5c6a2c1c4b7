//! Watch mode at run time: the schedule, the leader lease, the shared state
//! and the announcements.
//!
//! Every `[watch] every`, the replica holding the Redis lease (or the only
//! replica, without Redis) runs the probes, records the run (`who = "watch"`)
//! and feeds [`WatchState::step`]. The announced state lives in the shared
//! store (`watch_state`, one row per cluster, written only by the newest lease
//! fence), so a new leader after a failover neither re-announces an incident
//! nor misses a change. Right before each post the lease is checked again
//! ([`Lease::still_leader`]): a deposed leader posts nothing.
//!
//! A change is marked announced only after it was delivered; a failed delivery
//! is logged with its reason and retried on the next run that still sees it.
//!
//! Entry points: [`run`] (the loop, for `watch` and `serve`) and
//! [`Runner::tick`] (one scheduled run, for `watch --once` and tests).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Mutex;

use crate::announce::{AnnounceError, Announcement, Announcer};
use crate::config::{Config, WatchConfig};
use crate::engine::{self, Report, Scope};
use crate::finding::Severity;
use crate::lease::Lease;
use crate::metrics::Metrics;
use crate::store::{Incident, Store, now_ms};
use crate::watch::{Change, Condition, WatchState};

/// Who watch-mode runs, incidents and closes are recorded as.
pub const WHO: &str = "watch";

/// Why watch mode cannot run (or one run failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    #[error("watch mode needs a [watch] section in the config")]
    NotConfigured,
    #[error("watch probe {probe} needs {needs} in the config")]
    ProbeNotConfigured { probe: &'static str, needs: String },
    #[error("{0}")]
    Lease(String),
    #[error("{0}")]
    Store(String),
    #[error("probe run failed: {0}")]
    Run(String),
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Another replica holds the lease (or Redis did not answer): nothing ran.
    Follower,
    /// The probes ran; these changes were announced (usually none).
    Ran {
        status: Severity,
        announced: Vec<Change>,
    },
    /// The probes ran but the lease was lost before posting: nothing posted.
    Deposed,
}

/// The Redis key of the leader lease: its own namespace, never one of AISBF's prefixes.
pub fn lease_key(cluster: &str) -> String {
    format!("aisbf-doctor:{cluster}:leader")
}

/// This process's lease holder name (unique per process).
pub fn holder_name() -> String {
    format!("pid{}-{}", std::process::id(), now_ms())
}

/// One replica's watch mode.
pub struct Runner {
    config: Arc<Config>,
    watch: WatchConfig,
    store: Store,
    announcer: Arc<dyn Announcer>,
    metrics: Metrics,
    lease: Option<Mutex<Lease>>,
}

impl Runner {
    /// Checks the `[watch]` config and connects the lease when Redis is configured.
    pub async fn new(
        config: Arc<Config>,
        store: Store,
        announcer: Arc<dyn Announcer>,
        metrics: Metrics,
    ) -> Result<Runner, WatchError> {
        let watch = config.watch.clone().ok_or(WatchError::NotConfigured)?;
        for kind in &watch.probes {
            if let Err(needs) = crate::probe::for_kind(*kind).requires(&config) {
                return Err(WatchError::ProbeNotConfigured {
                    probe: kind.as_str(),
                    needs,
                });
            }
        }
        let lease = match &watch.redis_url {
            Some(url) => {
                let lease = Lease::connect(
                    url,
                    &lease_key(&config.cluster.name),
                    &holder_name(),
                    watch.lease_ttl,
                )
                .await
                .map_err(|e| WatchError::Lease(config.redactor().scrub(&e.to_string())))?;
                Some(Mutex::new(lease))
            }
            None => None,
        };
        metrics.set_leader(lease.is_none());
        Ok(Runner {
            config,
            watch,
            store,
            announcer,
            metrics,
            lease,
        })
    }

    fn cluster(&self) -> &str {
        &self.config.cluster.name
    }

    fn scrub(&self, e: impl std::fmt::Display) -> String {
        self.config.redactor().scrub(&e.to_string())
    }

    fn store_err(&self, e: crate::store::StoreError) -> WatchError {
        WatchError::Store(self.scrub(e))
    }

    /// Takes or renews the lease; true when this replica leads (always true
    /// without a lease). Sets the leader gauge.
    pub async fn lead(&self) -> bool {
        let Some(lease) = &self.lease else {
            return true;
        };
        let leads = match lease.lock().await.tick().await {
            Ok(leads) => leads,
            Err(e) => {
                tracing::warn!(error = %self.scrub(e), "lease not renewed; not leading");
                false
            }
        };
        self.metrics.set_leader(leads);
        leads
    }

    /// The fence checked right before every post: false once another replica
    /// took the lease (or Redis does not confirm).
    async fn may_post(&self) -> bool {
        let Some(lease) = &self.lease else {
            return true;
        };
        match lease.lock().await.still_leader().await {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!("lease lost before posting; posting nothing");
                self.metrics.set_leader(false);
                false
            }
            Err(e) => {
                tracing::warn!(error = %self.scrub(e), "lease not confirmed; posting nothing");
                false
            }
        }
    }

    async fn fence(&self) -> Option<i64> {
        match &self.lease {
            Some(lease) => lease.lock().await.fence(),
            None => None,
        }
    }

    /// Gives the lease up (on shutdown) so another replica takes over at once.
    pub async fn release(&self) {
        if let Some(lease) = &self.lease {
            if let Err(e) = lease.lock().await.release().await {
                tracing::warn!(error = %self.scrub(e), "lease not released");
            }
            self.metrics.set_leader(false);
        }
    }

    /// The shared state; from the open incident when no state was written yet.
    async fn load_state(&self) -> Result<WatchState, WatchError> {
        if let Some(s) = self
            .store
            .watch_state(self.cluster())
            .await
            .map_err(|e| self.store_err(e))?
        {
            return Ok(s);
        }
        let open = self
            .store
            .open_incident_of(self.cluster())
            .await
            .map_err(|e| self.store_err(e))?;
        Ok(match open {
            Some(i) => WatchState {
                announced: Condition {
                    status: Severity::Fail,
                    layer: i.layer,
                    culprits: {
                        let mut c = i.culprits;
                        c.sort();
                        c
                    },
                },
                pending: None,
            },
            None => WatchState::default(),
        })
    }

    /// One scheduled run: lead, probe, record, step, announce, follow up.
    pub async fn tick(&self) -> Result<Tick, WatchError> {
        if !self.lead().await {
            return Ok(Tick::Follower);
        }
        let cluster = self.cluster().to_string();
        let run_id = self
            .store
            .start_run(&cluster, WHO, &self.watch.probes)
            .await
            .map_err(|e| self.store_err(e))?;
        let report = engine::run(self.config.clone(), &self.watch.probes, Scope::default())
            .await
            .map_err(|e| WatchError::Run(self.scrub(e)))?;
        self.metrics.observe(&report);
        self.store
            .finish_run(run_id, &report)
            .await
            .map_err(|e| self.store_err(e))?;

        let fence = self.fence().await;
        let mut state = self.load_state().await?;
        let before = state.clone();
        let observed = Condition::of(&report);
        let mut announced = Vec::new();
        if let Some(change) = state.step(observed.clone(), self.watch.confirm) {
            if !self.may_post().await {
                return Ok(Tick::Deposed);
            }
            match self.announce(change, &report, fence).await {
                Ok(()) => announced.push(change),
                Err(e) => {
                    tracing::warn!(
                        change = ?change,
                        reason = %self.scrub(&e),
                        "announcement failed; retrying on the next run"
                    );
                    // Not announced: the next run that still sees this
                    // condition announces it without waiting again.
                    state = before;
                    state.pending = Some((observed, self.watch.confirm));
                }
            }
        }
        let written = self
            .store
            .save_watch_state(&cluster, &state, fence.unwrap_or(0))
            .await
            .map_err(|e| self.store_err(e))?;
        if !written {
            tracing::warn!("a newer leader wrote the watch state; this replica was deposed");
            self.metrics.set_leader(false);
            return Ok(Tick::Deposed);
        }
        self.follow_ups(&report, fence).await?;
        Ok(Tick::Ran {
            status: report.status,
            announced,
        })
    }

    async fn open_incident(&self) -> Result<Option<Incident>, WatchError> {
        self.store
            .open_incident_of(self.cluster())
            .await
            .map_err(|e| self.store_err(e))
    }

    /// Delivers one change and records it in the incident table.
    async fn announce(
        &self,
        change: Change,
        report: &Report,
        fence: Option<i64>,
    ) -> Result<(), AnnounceError> {
        let store = |e: WatchError| AnnounceError(e.to_string());
        let message = Announcement {
            change: Some(change),
            report: report.clone(),
            note: None,
            fence,
        };
        let open = self.open_incident().await.map_err(store)?;
        match (change, open) {
            (Change::Recovery, None) => Ok(()),
            (Change::Recovery, Some(incident)) => {
                let summary = recovery_summary(&incident, now_ms());
                if let Some(thread) = &incident.thread_id {
                    self.announcer.close_thread(thread, &summary).await?;
                }
                self.store
                    .close_incident(incident.id, WHO, &summary)
                    .await
                    .map_err(|e| store(self.store_err(e)))
            }
            (
                _,
                Some(Incident {
                    thread_id: Some(thread),
                    ..
                }),
            ) => {
                // Escalation (or a failure while an incident is still open).
                self.announcer.post(&thread, &message).await
            }
            (_, open) => {
                let title = incident_title(report);
                let thread = self.announcer.open_thread(&title, &message).await?;
                let incident = match open {
                    Some(i) => i,
                    None => self
                        .store
                        .open_incident(self.cluster(), report, WHO)
                        .await
                        .map_err(|e| store(self.store_err(e)))?,
                };
                self.store
                    .set_thread(incident.id, &thread)
                    .await
                    .map_err(|e| store(self.store_err(e)))
            }
        }
    }

    /// Opens follow-ups for drift seen during an incident, repairs the ones
    /// this run shows fixed, and reminds the rest in their thread once per
    /// `remind_every`.
    async fn follow_ups(&self, report: &Report, fence: Option<i64>) -> Result<(), WatchError> {
        let cluster = self.cluster();
        if report.status != Severity::Ok
            && let Some(incident) = self.open_incident().await?
        {
            self.store
                .open_follow_ups(cluster, Some(incident.id), report)
                .await
                .map_err(|e| self.store_err(e))?;
        }
        let repaired = self
            .store
            .repair_follow_ups(cluster, report)
            .await
            .map_err(|e| self.store_err(e))?;
        for fu in &repaired {
            tracing::info!(follow_up = fu.id, subject = %fu.subject, "follow-up repaired");
        }
        let now = now_ms();
        let every = i64::try_from(self.watch.remind_every.as_millis()).unwrap_or(i64::MAX);
        let open = self
            .store
            .open_follow_ups_of(Some(cluster))
            .await
            .map_err(|e| self.store_err(e))?;
        for fu in open {
            let since = fu.last_reminded_at_ms.unwrap_or(fu.opened_at_ms);
            if now.saturating_sub(since) < every {
                continue;
            }
            let Some(incident_id) = fu.incident_id else {
                continue;
            };
            let Some(thread) = self
                .store
                .incident(incident_id)
                .await
                .map_err(|e| self.store_err(e))?
                .and_then(|i| i.thread_id)
            else {
                continue;
            };
            if !self.may_post().await {
                return Ok(());
            }
            let message = Announcement {
                change: None,
                report: report.clone(),
                note: Some(format!(
                    "Follow-up #{} still open: {} {} ({}). The cluster was worked around, not repaired.",
                    fu.id,
                    fu.subject,
                    fu.code.as_str(),
                    fu.note
                )),
                fence,
            };
            match self.announcer.post(&thread, &message).await {
                Ok(()) => self
                    .store
                    .mark_reminded(fu.id, now)
                    .await
                    .map_err(|e| self.store_err(e))?,
                Err(e) => tracing::warn!(
                    follow_up = fu.id,
                    reason = %self.scrub(e),
                    "reminder not delivered; retrying on the next run"
                ),
            }
        }
        Ok(())
    }
}

/// The thread title of a new incident.
pub fn incident_title(report: &Report) -> String {
    let layer: &str = report.verdict.layer.into();
    if report.verdict.culprits.is_empty() {
        format!("{}: {layer}", report.cluster)
    } else {
        format!(
            "{}: {layer} ({})",
            report.cluster,
            report.verdict.culprits.join(", ")
        )
    }
}

/// The summary posted when an incident recovers.
pub fn recovery_summary(incident: &Incident, now_ms: i64) -> String {
    let secs = u64::try_from(now_ms.saturating_sub(incident.opened_at_ms) / 1000).unwrap_or(0);
    let took = humantime::format_duration(Duration::from_secs(secs));
    let culprits = if incident.culprits.is_empty() {
        String::new()
    } else {
        format!(" ({})", incident.culprits.join(", "))
    };
    format!(
        "Recovered: {} layer{culprits} healthy again after {took}. Was: {}",
        <&str>::from(incident.layer),
        incident.summary
    )
}

/// Runs watch mode until `shutdown` resolves: renews the lease every third of
/// its TTL in the background (so a slow probe run never loses it), runs
/// [`Runner::tick`] every `[watch] every`, and releases the lease on the way out.
pub async fn run(
    config: Arc<Config>,
    store: Store,
    announcer: Arc<dyn Announcer>,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WatchError> {
    let runner = Arc::new(Runner::new(config.clone(), store.clone(), announcer, metrics).await?);
    let watch = runner.watch.clone();
    // Runs still "running" long after any deadline belong to a dead replica.
    let stale = config.cluster.deadline_ms.saturating_mul(2) + 60_000;
    let stale = i64::try_from(stale).unwrap_or(i64::MAX);
    match store.mark_interrupted(now_ms().saturating_sub(stale)).await {
        Ok(n) if n > 0 => tracing::info!(runs = n, "marked runs of a dead replica interrupted"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %runner.scrub(e), "cannot mark interrupted runs"),
    }
    let renewer = runner.lease.as_ref().map(|_| {
        let r = runner.clone();
        let period = (watch.lease_ttl / 3).max(Duration::from_millis(50));
        tokio::spawn(async move {
            loop {
                r.lead().await;
                tokio::time::sleep(period).await;
            }
        })
    });
    let mut interval = tokio::time::interval(watch.every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = interval.tick() => {
                match runner.tick().await {
                    Ok(t) => tracing::debug!(tick = ?t, "watch run"),
                    Err(e) => tracing::warn!(error = %e, "watch run failed; retrying on the next tick"),
                }
            }
        }
    }
    if let Some(r) = renewer {
        r.abort();
    }
    runner.release().await;
    Ok(())
}

/// Prints one line per announcement on stdout: `watch` in a terminal or cron.
/// Thread ids are made up (`<unix ms><pid>`), unique per process.
pub struct StdoutAnnouncer {
    next: AtomicU64,
}

impl Default for StdoutAnnouncer {
    fn default() -> Self {
        Self {
            next: AtomicU64::new(0),
        }
    }
}

fn line(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

fn describe(m: &Announcement) -> String {
    let layer: &str = m.report.verdict.layer.into();
    let change = match m.change {
        Some(c) => serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        None => "reminder".into(),
    };
    let culprits = if m.report.verdict.culprits.is_empty() {
        "-".to_string()
    } else {
        m.report.verdict.culprits.join(",")
    };
    let mut s = format!("change={change} layer={layer} culprits={culprits}");
    if let Some(note) = &m.note {
        s.push_str(&format!(" note={note:?}"));
    }
    s
}

impl Announcer for StdoutAnnouncer {
    fn open_thread<'a>(
        &'a self,
        _title: &'a str,
        first: &'a Announcement,
    ) -> BoxFuture<'a, Result<String, AnnounceError>> {
        Box::pin(async move {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let thread = format!("{}{}{n}", now_ms(), std::process::id());
            line(&format!("{} thread={thread}", describe(first)));
            Ok(thread)
        })
    }

    fn post<'a>(
        &'a self,
        thread_id: &'a str,
        message: &'a Announcement,
    ) -> BoxFuture<'a, Result<(), AnnounceError>> {
        Box::pin(async move {
            line(&format!("{} thread={thread_id}", describe(message)));
            Ok(())
        })
    }

    fn close_thread<'a>(
        &'a self,
        thread_id: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<(), AnnounceError>> {
        Box::pin(async move {
            line(&format!(
                "change=recovery layer=none culprits=- thread={thread_id} summary={summary:?}"
            ));
            Ok(())
        })
    }
}
