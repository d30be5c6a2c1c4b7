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
//! Post first, save after is avoided with an outbox (`store::outbox`): a
//! change is recorded as a pending announcement together with the state it
//! leads to, then delivered and marked delivered with its incident write. A
//! failed delivery is logged with its reason and retried, in order, on the
//! next run; a new leader delivers a dead one's pending rows before probing.
//!
//! Entry points: [`run`] (the loop, for `watch` and `serve`) and
//! [`Runner::tick`] (one scheduled run, for `watch --once` and tests).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::app::Incidents;
use crate::chat::ChatSurface;
use crate::config::{Config, WatchConfig};
use crate::engine::{Engine, Scope};
use crate::finding::Severity;
use crate::lease::{Lease, LeaseError};
use crate::metrics::Metrics;
use crate::probe::NotConfigured;
use crate::store::{Store, StoreError, now_ms};
use crate::watch::{Change, Condition, WatchState};

pub use crate::app::incident::{incident_title, recovery_summary};

/// Who watch-mode runs, incidents and closes are recorded as.
pub const WHO: &str = "watch";

/// Why watch mode cannot run (or one run failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The config has no `[watch]` section.
    #[error("watch mode needs a [watch] section in the config")]
    NotConfigured,
    /// A `[watch] probes` entry whose config section is missing.
    #[error("watch probe {probe} needs {needs} in the config")]
    ProbeNotConfigured {
        probe: &'static str,
        needs: NotConfigured,
    },
    /// The leader lease could not be taken or kept.
    #[error("{0}")]
    Lease(#[from] LeaseError),
    /// The shared store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The probe engine could not be built (its HTTP client).
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
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
    engine: Arc<Engine>,
    config: Arc<Config>,
    watch: WatchConfig,
    store: Store,
    incidents: Incidents,
    metrics: Metrics,
    lease: Option<Mutex<Lease>>,
}

impl Runner {
    /// Checks the `[watch]` config and connects the lease when Redis is
    /// configured; probes with an engine of its own.
    pub async fn new(
        config: Arc<Config>,
        store: Store,
        surface: Arc<dyn ChatSurface>,
        metrics: Metrics,
    ) -> Result<Runner, WatchError> {
        let engine = Engine::new(config)?;
        Runner::with_engine(Arc::new(engine), store, surface, metrics).await
    }

    /// The same, sharing `engine` (and its HTTP client) with the process.
    pub async fn with_engine(
        engine: Arc<Engine>,
        store: Store,
        surface: Arc<dyn ChatSurface>,
        metrics: Metrics,
    ) -> Result<Runner, WatchError> {
        let config = engine.config().clone();
        let watch = config.watch.clone().ok_or(WatchError::NotConfigured)?;
        for kind in &watch.probes {
            if let Err(needs) = kind.spec().requires(&config) {
                return Err(WatchError::ProbeNotConfigured {
                    probe: kind.as_str(),
                    needs,
                });
            }
        }
        let lease = match &watch.redis_url {
            Some(url) => Some(Mutex::new(
                Lease::connect(
                    url,
                    &lease_key(&config.cluster.name),
                    &holder_name(),
                    watch.lease_ttl,
                )
                .await?,
            )),
            None => None,
        };
        metrics.set_leader(lease.is_none());
        if lease.is_some() {
            metrics.set_lease_ttl(watch.lease_ttl);
        }
        let incidents = Incidents::new(
            &config.cluster.name,
            store.clone(),
            surface,
            config.redactor(),
        );
        Ok(Runner {
            engine,
            config,
            watch,
            store,
            incidents,
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

    /// Takes or renews the lease; true when this replica leads (always true
    /// without a lease). Sets the leader gauge and what `/healthz` knows of
    /// the lease server (a lost connection is re-established by the lease).
    ///
    /// A lease is taken above the newest fence stored with the watch state,
    /// and a held one whose fence fell below it (Redis lost the counter) is
    /// given up and taken again above it: the state write that follows an
    /// announcement is never refused for a stale fence of this replica.
    pub async fn lead(&self) -> bool {
        let Some(lease) = &self.lease else {
            return true;
        };
        let mut lease = lease.lock().await;
        let leads = match self.renew_or_take(&mut lease).await {
            Ok(leads) => leads,
            Err(e) => {
                tracing::warn!(error = %self.scrub(e), "lease not renewed; not leading");
                false
            }
        };
        self.metrics.set_leader(leads);
        self.metrics
            .set_lease_unreachable(lease.unreachable_since());
        leads
    }

    async fn renew_or_take(&self, lease: &mut Lease) -> Result<bool, WatchError> {
        if lease.renew().await? {
            let stored = self.stored_fence().await?;
            if lease.fence().is_some_and(|f| f >= stored) {
                return Ok(true);
            }
            tracing::warn!(
                fence = ?lease.fence(),
                stored,
                "the lease fence is older than the stored watch state's (fence counter lost?); taking the lease again above it"
            );
            lease.release().await?;
        } else if !lease.is_free().await? {
            return Ok(false);
        }
        let stored = self.stored_fence().await?;
        Ok(lease.acquire(stored).await?)
    }

    /// The fence that last wrote this cluster's watch state (0: none yet).
    async fn stored_fence(&self) -> Result<i64, WatchError> {
        Ok(self
            .store
            .watch_state_fence(self.cluster())
            .await?
            .unwrap_or(0))
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

    /// The shared state; from the open incident when no state was written
    /// yet. A recorded announcement newer than the stored state means the
    /// state write after it was lost (its leader died): its target is the state.
    async fn load_state(&self) -> Result<WatchState, WatchError> {
        let stored = self.store.watch_state(self.cluster()).await?;
        let newest = self.store.newest_announcement(self.cluster()).await?;
        if let Some((id, target)) = newest
            && stored
                .as_ref()
                .is_none_or(|s| s.outbox_id.is_none_or(|seen| seen < id))
        {
            return Ok(WatchState {
                outbox_id: Some(id),
                ..target
            });
        }
        if let Some(s) = stored {
            return Ok(s);
        }
        let open = self.store.open_incident_of(self.cluster()).await?;
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
                outbox_id: None,
            },
            None => WatchState::default(),
        })
    }

    /// Delivers the pending announcements in order (a dead leader's first),
    /// checking the lease before each; stops at the first failed delivery so
    /// the order holds, and retries it on the next run. `None` when deposed.
    async fn deliver_pending(&self, fence: Option<i64>) -> Result<Option<Vec<Change>>, WatchError> {
        let mut delivered = Vec::new();
        for out in self.store.pending_announcements(self.cluster()).await? {
            if !self.may_post().await {
                return Ok(None);
            }
            match self.incidents.deliver(&out, fence, WHO).await {
                Ok(()) => delivered.push(out.change),
                Err(e) => {
                    tracing::warn!(
                        change = ?out.change,
                        outbox = out.id,
                        reason = %self.scrub(&e),
                        "announcement failed; retrying on the next run"
                    );
                    break;
                }
            }
        }
        Ok(Some(delivered))
    }

    /// One scheduled run: lead, deliver what is pending, probe, record, step,
    /// record the announcement's intent with the new state, deliver, follow up.
    pub async fn tick(&self) -> Result<Tick, WatchError> {
        if !self.lead().await {
            return Ok(Tick::Follower);
        }
        // A predecessor's pending announcements go out before anything else.
        let Some(mut announced) = self.deliver_pending(self.fence().await).await? else {
            return Ok(Tick::Deposed);
        };
        let cluster = self.cluster().to_string();
        let run_id = self
            .store
            .start_run(&cluster, WHO, &self.watch.probes)
            .await?;
        let report = self.engine.run(&self.watch.probes, Scope::default()).await;
        self.metrics.observe(&report);
        self.store.finish_run(run_id, &report).await?;

        let fence = self.fence().await;
        let mut state = self.load_state().await?;
        let change = state.step(Condition::of(&report), self.watch.confirm);
        let mut intent = None;
        if let Some(change) = change {
            if !self.may_post().await {
                return Ok(Tick::Deposed);
            }
            // Intent first: a leader killed from here on leaves a pending row
            // its successor delivers, and a state that does not announce again.
            let id = self
                .store
                .record_announcement(&cluster, change, &report, &state, fence.unwrap_or(0))
                .await?;
            state.outbox_id = Some(id);
            intent = Some(id);
        }
        let written = self
            .store
            .save_watch_state(&cluster, &state, fence.unwrap_or(0))
            .await?;
        if !written {
            if let Some(id) = intent {
                self.store.discard_announcement(id).await?;
            }
            tracing::warn!("a newer leader wrote the watch state; this replica was deposed");
            self.metrics.set_leader(false);
            return Ok(Tick::Deposed);
        }
        if intent.is_some() {
            let Some(delivered) = self.deliver_pending(fence).await? else {
                return Ok(Tick::Deposed);
            };
            announced.extend(delivered);
        }
        self.follow_ups(&report, fence).await?;
        Ok(Tick::Ran {
            status: report.status,
            announced,
        })
    }

    /// Tracks follow-ups for this run and reminds the due ones in their
    /// thread, checking the lease before each post.
    async fn follow_ups(
        &self,
        report: &crate::engine::Report,
        fence: Option<i64>,
    ) -> Result<(), WatchError> {
        self.incidents.track_follow_ups(report).await?;
        let now = now_ms();
        for (fu, thread) in self
            .incidents
            .due_reminders(now, self.watch.remind_every)
            .await?
        {
            if !self.may_post().await {
                return Ok(());
            }
            self.incidents
                .remind(&fu, &thread, report, fence, now)
                .await?;
        }
        Ok(())
    }
}

/// Runs watch mode until `shutdown` resolves: renews the lease every third of
/// its TTL in the background (so a slow probe run never loses it), runs
/// [`Runner::tick`] every `[watch] every`, and releases the lease on the way out.
pub async fn run(
    runner: Arc<Runner>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WatchError> {
    let watch = runner.watch.clone();
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
                crate::memory::returning_memory_after(async {
                    match runner.tick().await {
                        Ok(t) => tracing::debug!(tick = ?t, "watch run"),
                        Err(e) => tracing::warn!(error = %runner.scrub(e), "watch run failed; retrying on the next tick"),
                    }
                })
                .await;
            }
        }
    }
    if let Some(r) = renewer {
        r.abort();
    }
    runner.release().await;
    Ok(())
}
