//! Slack as a [`ChatSurface`]: answers through the command's `response_url`
//! (falling back to `chat.postMessage` in its channel), incidents as a
//! message in the incident channel whose thread (`thread_ts`) holds the run,
//! escalations, reminders and the recovery summary.
//!
//! A thread id is the `ts` of the incident's first message in the incident
//! channel (short enough for the store's 32 characters next to a Discord
//! thread, see [`crate::chat::fanout`]); `"<channel>:<ts>"` is read too.

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::api::{Api, ApiError};
use super::render::{self, Extras};
use crate::chat::{Announcement, Answer, ChatError, ChatSurface, ReplyTo};
use crate::finding::ProbeKind;
use crate::secret::Redactor;
use crate::watch::Change;

pub struct SlackSurface {
    api: Api,
    channel: Option<String>,
    redactor: Redactor,
    /// Configured node names: only they get a "Pin to node" button.
    nodes: Vec<String>,
    /// The newest leader fence seen; a post with an older one is refused.
    newest_fence: std::sync::atomic::AtomicI64,
    /// One chart rendered at a time: a burst of health verdicts must not
    /// take every core from the acknowledgements of the next commands.
    charts: tokio::sync::Semaphore,
}

fn delivery(e: ApiError) -> ChatError {
    ChatError::Delivery(e.to_string())
}

/// The channel and `ts` of a thread id (`ts` alone: the incident channel).
pub fn split_thread<'a>(
    incident_channel: Option<&'a str>,
    thread_id: &'a str,
) -> Result<(&'a str, &'a str), ChatError> {
    let parts = match thread_id.split_once(':') {
        Some((c, t)) => Some((c, t)),
        None => incident_channel.map(|c| (c, thread_id)),
    };
    parts
        .filter(|(c, t)| !c.is_empty() && !t.is_empty())
        .ok_or_else(|| ChatError::Delivery(format!("not a Slack thread id: {thread_id:?}")))
}

impl SlackSurface {
    pub fn new(api: Api, channel: Option<String>, redactor: Redactor) -> SlackSurface {
        SlackSurface {
            api,
            channel,
            redactor,
            nodes: Vec::new(),
            newest_fence: std::sync::atomic::AtomicI64::new(i64::MIN),
            charts: tokio::sync::Semaphore::new(1),
        }
    }

    pub fn with_nodes(mut self, nodes: Vec<String>) -> SlackSurface {
        self.nodes = nodes;
        self
    }

    fn check_fence(&self, a: &Announcement) -> Result<(), ChatError> {
        use std::sync::atomic::Ordering;
        let Some(fence) = a.fence else {
            return Ok(());
        };
        let newest = self.newest_fence.fetch_max(fence, Ordering::SeqCst);
        if fence < newest {
            return Err(ChatError::StaleLeader { fence, newest });
        }
        Ok(())
    }

    fn message(&self, a: &Announcement) -> render::Message {
        let change = a.change.map(|c| match c {
            Change::NewFailure => "New failure",
            Change::Escalation => "Escalation",
            Change::Recovery => "Recovered",
        });
        let note = match (change, a.note.as_deref()) {
            (Some(c), Some(n)) => Some(format!("{c} · {n}")),
            (Some(c), None) => Some(c.to_string()),
            (None, Some(n)) => Some(n.to_string()),
            (None, None) => None,
        };
        render::verdict(
            &a.report,
            &self.redactor,
            &Extras {
                note: note.as_deref(),
                ..Extras::default()
            },
        )
    }

    /// An answer as a Slack message and its files (the chart follows
    /// separately, see [`SlackSurface::reply`]); `note` goes first.
    pub fn render_answer(&self, answer: &Answer, note: Option<&str>) -> render::Message {
        match answer {
            Answer::Text(text) => {
                let text = match note {
                    Some(n) => format!("{n}\n{text}"),
                    None => text.clone(),
                };
                render::Message {
                    json: render::text(&text, &self.redactor),
                    files: Vec::new(),
                }
            }
            Answer::Verdict {
                report,
                request,
                thread,
            } => {
                let label = request.label();
                let rerun = request.rerun_id();
                let link = thread
                    .as_deref()
                    .and_then(|t| split_thread(self.channel.as_deref(), t).ok())
                    .map(|(channel, _)| format!("Incident thread: in <#{channel}>"));
                let pin = report
                    .verdict
                    .culprits
                    .iter()
                    .find(|c| self.nodes.contains(c))
                    .map(String::as_str);
                render::verdict(
                    report,
                    &self.redactor,
                    &Extras {
                        command_label: Some(&label),
                        rerun_id: rerun.as_deref(),
                        pin_node: pin,
                        note,
                        link: link.as_deref(),
                    },
                )
            }
        }
    }

    /// The latency chart of a health verdict, rendered off the async
    /// workers (PNG rendering is CPU work) once the verdict itself went out.
    async fn chart(&self, answer: &Answer) -> Option<(String, Vec<u8>)> {
        let Answer::Verdict {
            report,
            request:
                crate::app::Request::Check {
                    probe: ProbeKind::Health,
                    ..
                },
            ..
        } = answer
        else {
            return None;
        };
        let _permit = self.charts.acquire().await.ok()?;
        let report = report.clone();
        let png = tokio::task::spawn_blocking(move || crate::render::chart::latency_png(&report))
            .await
            .ok()?
            .ok()??;
        Some(("latency.png".into(), png))
    }

    /// Uploads `files` into the channel (thread); a failed upload is logged,
    /// the message itself already went out.
    async fn upload_all(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        files: &[(String, Vec<u8>)],
    ) {
        for (name, bytes) in files {
            if let Err(e) = self.api.upload(channel, thread_ts, name, bytes).await {
                tracing::warn!(error = %e, file = %name, "slack file not uploaded");
            }
        }
    }
}

impl ChatSurface for SlackSurface {
    fn open_thread<'a>(
        &'a self,
        title: &'a str,
        first: &'a Announcement,
    ) -> BoxFuture<'a, Result<String, ChatError>> {
        Box::pin(async move {
            self.check_fence(first)?;
            let Some(channel) = self.channel.as_deref() else {
                return Err(ChatError::Delivery(
                    "no slack.incident_channel to open an incident in".into(),
                ));
            };
            let head = render::text(&format!(":rotating_light: {title}"), &self.redactor);
            let ts = self
                .api
                .post_message(channel, None, &head)
                .await
                .map_err(delivery)?;
            let msg = self.message(first);
            self.api
                .post_message(channel, Some(&ts), &msg.json)
                .await
                .map_err(delivery)?;
            self.upload_all(channel, Some(&ts), &msg.files).await;
            Ok(ts)
        })
    }

    fn post<'a>(
        &'a self,
        thread_id: &'a str,
        message: &'a Announcement,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            self.check_fence(message)?;
            let (channel, ts) = split_thread(self.channel.as_deref(), thread_id)?;
            let msg = self.message(message);
            self.api
                .post_message(channel, Some(ts), &msg.json)
                .await
                .map_err(delivery)?;
            self.upload_all(channel, Some(ts), &msg.files).await;
            Ok(())
        })
    }

    fn close_thread<'a>(
        &'a self,
        thread_id: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            // Slack threads cannot be archived: the summary is the last word.
            let (channel, ts) = split_thread(self.channel.as_deref(), thread_id)?;
            let body = render::text(&format!(":white_check_mark: {summary}"), &self.redactor);
            self.api
                .post_message(channel, Some(ts), &body)
                .await
                .map(|_| ())
                .map_err(delivery)
        })
    }

    fn has_incident_channel(&self) -> bool {
        self.channel.is_some()
    }

    fn mention(&self, who: &str) -> String {
        // Plain text: naming someone must never notify them.
        match who.strip_prefix("slack:") {
            Some(id) => format!("Slack user {id}"),
            None => who.to_string(),
        }
    }

    fn thread_link(&self, thread_id: &str) -> String {
        match split_thread(self.channel.as_deref(), thread_id) {
            Ok((channel, ts)) => format!("thread {ts} in channel {channel}"),
            Err(_) => format!("thread {thread_id}"),
        }
    }

    fn reply<'a>(
        &'a self,
        to: &'a ReplyTo,
        answer: &'a Answer,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            let msg = self.render_answer(answer, None);
            let mut body: Value = msg.json.clone();
            body["response_type"] = json!("in_channel");
            body["replace_original"] = json!(false);
            let sent = if to.token.is_empty() {
                Err(ChatError::Delivery("no response_url".into()))
            } else {
                self.api.respond(&to.token, &body).await.map_err(delivery)
            };
            let failed = match sent {
                Ok(()) => {
                    if let Some(channel) = &to.channel {
                        let mut files = msg.files;
                        files.extend(self.chart(answer).await);
                        self.upload_all(channel, None, &files).await;
                    }
                    return Ok(());
                }
                Err(e) => e,
            };
            // The response_url lives 30 minutes and 5 uses; past that the
            // answer still reaches the channel, naming who asked.
            let Some(channel) = &to.channel else {
                return Err(failed);
            };
            tracing::warn!(error = %failed, "answer not delivered through response_url; posting it in the channel");
            let note = format!(
                "Answer for {} (the command's own reply could not be delivered):",
                self.mention(&to.asked_by)
            );
            let msg = self.render_answer(answer, Some(&note));
            self.api
                .post_message(channel, None, &msg.json)
                .await
                .map_err(|e| ChatError::Delivery(format!("{failed}; then in the channel: {e}")))?;
            let mut files = msg.files;
            files.extend(self.chart(answer).await);
            self.upload_all(channel, None, &files).await;
            Ok(())
        })
    }
}
