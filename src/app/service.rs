//! Runs a [`Request`] for whoever asked, on any surface: the probes, the
//! run's record, the incident thread, and the answer.

use std::sync::Arc;
use std::time::Duration;

use super::incident::Incidents;
use super::request::Request;
use crate::chat::{Answer, ChatSurface, ReplyTo};
use crate::config::Config;
use crate::engine::{Engine, Report};
use crate::finding::{ProbeKind, Severity};
use crate::secret::Redactor;
use crate::store::Store;

/// Longest a chat-triggered run may take: well inside the 15 minutes a chat
/// may keep a command's reply open (Discord's interaction token), whatever
/// `cluster.deadline_ms` allows.
pub const CHAT_RUN_CAP: Duration = Duration::from_secs(10 * 60);

/// What every surface's handler shares.
pub struct Service {
    pub config: Arc<Config>,
    pub engine: Arc<Engine>,
    pub store: Store,
    pub incidents: Incidents,
    pub redactor: Redactor,
}

impl Service {
    pub fn new(engine: Arc<Engine>, store: Store, surface: Arc<dyn ChatSurface>) -> Service {
        let config = engine.config().clone();
        let redactor = config.redactor();
        let incidents = Incidents::new(
            &config.cluster.name,
            store.clone(),
            surface,
            redactor.clone(),
        );
        Service {
            config,
            engine,
            store,
            incidents,
            redactor,
        }
    }

    pub fn surface(&self) -> &Arc<dyn ChatSurface> {
        self.incidents.surface()
    }

    /// Runs the probes and records the run as `who`; a store that cannot be
    /// written never costs the asker the verdict.
    pub async fn run_recorded(&self, kinds: &[ProbeKind], request: &Request, who: &str) -> Report {
        let run_id = match self
            .store
            .start_run(&self.config.cluster.name, who, kinds)
            .await
        {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(error = %self.redactor.scrub(&e.to_string()), "run not recorded");
                None
            }
        };
        let report = self
            .engine
            .run_capped(kinds, request.scope(), CHAT_RUN_CAP)
            .await;
        if let Some(id) = run_id
            && let Err(e) = self.store.finish_run(id, &report).await
        {
            tracing::warn!(error = %self.redactor.scrub(&e.to_string()), "run not recorded");
        }
        report
    }

    /// The answer to `request`: incident commands answer in text; the others
    /// run, and a failing verdict (or `incident open`) also goes into the
    /// incident thread.
    pub async fn answer(&self, request: Request, who: &str) -> Answer {
        match request {
            Request::IncidentStatus => Answer::Text(self.incidents.status_text().await),
            Request::IncidentClose => Answer::Text(self.incidents.close_text(who).await),
            _ => {
                let kinds = request.kinds(&self.config);
                let report = self.run_recorded(&kinds, &request, who).await;
                let force = request == Request::IncidentOpen;
                let thread = if report.status == Severity::Fail || force {
                    self.incidents.post_verdict(&report, who, force).await
                } else {
                    None
                };
                Answer::Verdict {
                    report,
                    request,
                    thread,
                }
            }
        }
    }

    /// Answers `request` for whoever `to` says asked, and delivers the answer there.
    pub async fn handle(&self, request: Request, to: &ReplyTo) {
        let answer = self.answer(request, &to.asked_by).await;
        if let Err(e) = self.surface().reply(to, &answer).await {
            tracing::error!(error = %self.redactor.scrub(&e.to_string()), "answer not delivered");
        }
    }
}
