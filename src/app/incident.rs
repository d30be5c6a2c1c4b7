//! The incident lifecycle, shared by chat commands and watch mode: open an
//! incident with its thread, post verdicts into it, escalate, open and remind
//! follow-ups, close it with a summary.
//!
//! The store keeps the incident; a [`ChatSurface`] carries the thread. The
//! store write and the post are ordered so that watch mode never records an
//! incident it did not announce.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::chat::{Announcement, ChatError, ChatSurface};
use crate::engine::Report;
use crate::finding::Severity;
use crate::secret::Redactor;
use crate::store::{FollowUp, Incident, Outgoing, Store, StoreError, now_ms};
use crate::watch::Change;

/// One cluster's incidents in one chat.
#[derive(Clone)]
pub struct Incidents {
    cluster: String,
    store: Store,
    surface: Arc<dyn ChatSurface>,
    redactor: Redactor,
}

impl Incidents {
    pub fn new(
        cluster: &str,
        store: Store,
        surface: Arc<dyn ChatSurface>,
        redactor: Redactor,
    ) -> Incidents {
        Incidents {
            cluster: cluster.to_string(),
            store,
            surface,
            redactor,
        }
    }

    pub fn surface(&self) -> &Arc<dyn ChatSurface> {
        &self.surface
    }

    fn scrub(&self, e: &dyn std::fmt::Display) -> String {
        self.redactor.scrub(&e.to_string())
    }

    pub async fn open_incident(&self) -> Result<Option<Incident>, StoreError> {
        self.store.open_incident_of(&self.cluster).await
    }

    /// A verdict someone asked for: opens (or reuses) the incident and its
    /// thread and posts the verdict there; returns the thread id. With
    /// `force` (`incident open`) an incident is opened whatever the status.
    pub async fn post_verdict(&self, report: &Report, who: &str, force: bool) -> Option<String> {
        let incident = match self.open_incident().await {
            Ok(Some(i)) => i,
            Ok(None) if report.status == Severity::Fail || force => {
                match self.store.open_incident(&self.cluster, report, who).await {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::warn!(error = %self.scrub(&e), "incident not opened");
                        return None;
                    }
                }
            }
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %self.scrub(&e), "incident store unreadable");
                return None;
            }
        };
        if !self.surface.has_incident_channel() {
            return None;
        }
        let message = Announcement::verdict(report);
        match &incident.thread_id {
            Some(thread) => {
                if let Err(e) = self.surface.post(thread, &message).await {
                    tracing::error!(error = %self.scrub(&e), "verdict not posted to the incident thread");
                }
                Some(thread.clone())
            }
            None => match self
                .surface
                .open_thread(&thread_name(report), &message)
                .await
            {
                Ok(thread) => {
                    if let Err(e) = self.store.set_thread(incident.id, &thread).await {
                        tracing::warn!(error = %self.scrub(&e), "thread id not stored");
                    }
                    Some(thread)
                }
                Err(e) => {
                    tracing::error!(error = %self.scrub(&e), "incident thread not created");
                    None
                }
            },
        }
    }

    /// `incident status`: the open incident and the open follow-ups, as text.
    pub async fn status_text(&self) -> String {
        let cluster = &self.cluster;
        match (
            self.open_incident().await,
            self.store.open_follow_ups_of(Some(cluster)).await,
        ) {
            (Ok(Some(i)), Ok(f)) => {
                let thread = i
                    .thread_id
                    .as_ref()
                    .map(|t| format!("\nThread: {}", self.surface.thread_link(t)))
                    .unwrap_or_default();
                format!("```\n{}```{thread}", crate::render::incidents::show(&i, &f))
            }
            (Ok(None), Ok(f)) => format!(
                "No open incident for {cluster}.\n```\n{}```",
                crate::render::incidents::list(&[], &f)
            ),
            (Err(e), _) | (_, Err(e)) => format!("Cannot read the incident store: {e}"),
        }
    }

    /// `incident close`: posts the summary into the thread, archives it and
    /// closes the incident; the answer says what did not work.
    pub async fn close_text(&self, who: &str) -> String {
        let cluster = &self.cluster;
        match self.open_incident().await {
            Ok(None) => format!("No open incident for {cluster}."),
            Err(e) => format!("Cannot read the incident store: {e}"),
            Ok(Some(i)) => {
                let summary = format!(
                    "Incident #{} closed by {}: {} (layer {}, culprits {}).",
                    i.id,
                    self.surface.mention(who),
                    i.summary,
                    <&str>::from(i.layer),
                    if i.culprits.is_empty() {
                        "none".to_string()
                    } else {
                        i.culprits.join(", ")
                    }
                );
                let mut problem = None;
                if let Some(t) = &i.thread_id
                    && let Err(e) = self.surface.close_thread(t, &summary).await
                {
                    problem = Some(e.to_string());
                }
                match self.store.close_incident(i.id, who, &summary).await {
                    Ok(()) => match problem {
                        None => summary,
                        Some(p) => format!("{summary}\nBut: {p}"),
                    },
                    Err(e) => format!("Incident #{} not closed: {e}", i.id),
                }
            }
        }
    }

    /// Watch mode: delivers one recorded announcement (see `store::outbox`)
    /// and, in one transaction, writes what it implies to the incident table
    /// and marks it delivered. The thread is opened before the incident row
    /// is written, so no incident exists without its announcement.
    pub async fn deliver(
        &self,
        out: &Outgoing,
        fence: Option<i64>,
        who: &str,
    ) -> Result<(), ChatError> {
        let report = &out.report;
        let message = Announcement {
            change: Some(out.change),
            report: report.clone(),
            note: None,
            fence,
        };
        let open = self.open_incident().await?;
        let written = match (out.change, open) {
            (Change::Recovery, None) => self.store.mark_delivered(out.id).await?,
            (Change::Recovery, Some(incident)) => {
                let summary = recovery_summary(&incident, now_ms());
                if let Some(thread) = &incident.thread_id {
                    self.surface.close_thread(thread, &summary).await?;
                }
                self.store
                    .deliver_close(out.id, incident.id, who, &summary)
                    .await?
            }
            (
                _,
                Some(Incident {
                    thread_id: Some(thread),
                    ..
                }),
            ) => {
                // Escalation (or a failure while an incident is still open).
                self.surface.post(&thread, &message).await?;
                self.store.mark_delivered(out.id).await?
            }
            (_, open) => {
                let title = incident_title(report);
                let thread = self.surface.open_thread(&title, &message).await?;
                match open {
                    Some(i) => self.store.deliver_thread(out.id, i.id, &thread).await?,
                    None => {
                        self.store
                            .deliver_new_incident(out.id, &self.cluster, report, who, &thread)
                            .await?
                    }
                }
            }
        };
        if !written {
            tracing::warn!(
                outbox = out.id,
                "announcement already marked delivered by another leader"
            );
        }
        Ok(())
    }

    /// Opens follow-ups for drift seen during an incident and repairs the
    /// ones this run shows fixed.
    pub async fn track_follow_ups(&self, report: &Report) -> Result<(), StoreError> {
        let cluster = &self.cluster;
        if report.status != Severity::Ok
            && let Some(incident) = self.open_incident().await?
        {
            self.store
                .open_follow_ups(cluster, Some(incident.id), report)
                .await?;
        }
        for fu in &self.store.repair_follow_ups(cluster, report).await? {
            tracing::info!(follow_up = fu.id, subject = %fu.subject, "follow-up repaired");
        }
        Ok(())
    }

    /// Open follow-ups not reminded for `every`, with their incident's thread.
    pub async fn due_reminders(
        &self,
        now: i64,
        every: Duration,
    ) -> Result<Vec<(FollowUp, String)>, StoreError> {
        let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        let mut threads: HashMap<i64, Option<String>> = HashMap::new();
        let mut due = Vec::new();
        for fu in self.store.open_follow_ups_of(Some(&self.cluster)).await? {
            let since = fu.last_reminded_at_ms.unwrap_or(fu.opened_at_ms);
            if now.saturating_sub(since) < every {
                continue;
            }
            let Some(incident_id) = fu.incident_id else {
                continue;
            };
            let thread = match threads.get(&incident_id) {
                Some(t) => t.clone(),
                None => {
                    let t = self
                        .store
                        .incident(incident_id)
                        .await?
                        .and_then(|i| i.thread_id);
                    threads.insert(incident_id, t.clone());
                    t
                }
            };
            if let Some(thread) = thread {
                due.push((fu, thread));
            }
        }
        Ok(due)
    }

    /// Posts one reminder into its thread and marks it reminded at `now`; a
    /// failed delivery is logged and tried again on the next run.
    pub async fn remind(
        &self,
        fu: &FollowUp,
        thread: &str,
        report: &Report,
        fence: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
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
        match self.surface.post(thread, &message).await {
            Ok(()) => self.store.mark_reminded(fu.id, now).await,
            Err(e) => {
                tracing::warn!(
                    follow_up = fu.id,
                    reason = %self.scrub(&e),
                    "reminder not delivered; retrying on the next run"
                );
                Ok(())
            }
        }
    }
}

/// A chat-opened incident's thread name: "<cluster> · <layer> · <culprit>"
/// (each surface cuts it to its own limit).
pub fn thread_name(report: &Report) -> String {
    let culprit = report
        .verdict
        .culprits
        .first()
        .cloned()
        .unwrap_or_else(|| "cluster".into());
    format!(
        "{} · {} · {}",
        report.cluster,
        crate::render::words(report.verdict.layer),
        culprit
    )
}

/// The thread title of an incident watch mode opens.
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
