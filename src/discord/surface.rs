//! Discord as a [`ChatSurface`]: answers by editing the deferred interaction
//! response, threads in the incident channel, posts and archives over REST.

use futures::future::BoxFuture;

use super::render::{self, Extras};
use super::rest::{Rest, RestError};
use crate::chat::{Announcement, Answer, ChatError, ChatSurface, ReplyTo};
use crate::finding::ProbeKind;
use crate::secret::Redactor;
use crate::watch::Change;

pub struct DiscordSurface {
    rest: Rest,
    /// Where incident threads are opened; without it incidents live in the
    /// store only.
    channel: Option<u64>,
    redactor: Redactor,
    /// Configured node names: a verdict's culprit gets a "Pin to node"
    /// button only when it is one of them.
    nodes: Vec<String>,
    /// The newest leader fence seen; a post with an older one is refused.
    newest_fence: std::sync::atomic::AtomicI64,
}

impl DiscordSurface {
    pub fn new(rest: Rest, channel: Option<u64>, redactor: Redactor) -> DiscordSurface {
        DiscordSurface {
            rest,
            channel,
            redactor,
            nodes: Vec::new(),
            newest_fence: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// The configured nodes that may be pinned.
    pub fn with_nodes(mut self, nodes: Vec<String>) -> DiscordSurface {
        self.nodes = nodes;
        self
    }

    /// Refuses an announcement from a leader older than one already heard.
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
        let content = match (change, a.note.as_deref()) {
            (Some(c), Some(n)) => Some(format!("**{c}** · {n}")),
            (Some(c), None) => Some(format!("**{c}**")),
            (None, Some(n)) => Some(n.to_string()),
            (None, None) => None,
        };
        render::verdict(
            &a.report,
            &self.redactor,
            &Extras {
                content: content.as_deref(),
                ..Extras::default()
            },
        )
    }

    /// An answer as a Discord message body and its files; `note` goes first.
    pub fn render_answer(
        &self,
        answer: &Answer,
        note: Option<&str>,
    ) -> (serde_json::Value, Vec<(String, Vec<u8>)>) {
        match answer {
            Answer::Text(text) => {
                let text = match note {
                    Some(n) => format!("{n}\n{text}"),
                    None => text.clone(),
                };
                (render::text(&text, &self.redactor, false), Vec::new())
            }
            Answer::Verdict {
                report,
                request,
                thread,
            } => {
                let label = request.label();
                let rerun = request.rerun_id();
                let thread = thread.as_ref().map(|t| format!("Incident thread: <#{t}>"));
                let content = match (note, thread) {
                    (Some(n), Some(t)) => Some(format!("{n}\n{t}")),
                    (Some(n), None) => Some(n.to_string()),
                    (None, t) => t,
                };
                let pin = report
                    .verdict
                    .culprits
                    .iter()
                    .find(|c| self.nodes.contains(c))
                    .map(String::as_str);
                let mut msg = render::verdict(
                    report,
                    &self.redactor,
                    &Extras {
                        command_label: Some(&label),
                        rerun_id: rerun.as_deref(),
                        pin_node: pin,
                        content: content.as_deref(),
                    },
                );
                // Health verdicts carry the per-node latency chart.
                if matches!(
                    request,
                    crate::app::Request::Check {
                        probe: ProbeKind::Health,
                        ..
                    }
                ) && let Ok(Some(png)) = crate::render::chart::latency_png(report)
                {
                    msg = msg.with_chart("latency.png", png);
                }
                let files = msg.files();
                (msg.json, files)
            }
        }
    }
}

fn delivery(e: RestError) -> ChatError {
    ChatError::Delivery(e.to_string())
}

impl ChatSurface for DiscordSurface {
    fn open_thread<'a>(
        &'a self,
        title: &'a str,
        first: &'a Announcement,
    ) -> BoxFuture<'a, Result<String, ChatError>> {
        Box::pin(async move {
            let Some(channel) = self.channel else {
                return Err(ChatError::Delivery(
                    "no discord.incident_channel to open a thread in".into(),
                ));
            };
            let thread = self
                .rest
                .create_thread(channel, title)
                .await
                .map_err(delivery)?;
            let msg = self.message(first);
            self.rest
                .post(&thread, &msg.json, &msg.files())
                .await
                .map_err(delivery)?;
            Ok(thread)
        })
    }

    fn post<'a>(
        &'a self,
        thread_id: &'a str,
        message: &'a Announcement,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            self.check_fence(message)?;
            let msg = self.message(message);
            self.rest
                .post(thread_id, &msg.json, &msg.files())
                .await
                .map_err(delivery)
        })
    }

    fn close_thread<'a>(
        &'a self,
        thread_id: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            let body = render::text(summary, &self.redactor, false);
            // Archive even when the summary did not go out: a closed
            // incident must not leave its thread open.
            let posted = self.rest.post(thread_id, &body, &[]).await;
            let archived = self.rest.archive_thread(thread_id).await;
            match (posted, archived) {
                (Ok(()), Ok(())) => Ok(()),
                (Err(a), Err(b)) => Err(ChatError::Delivery(format!("{a}; {b}"))),
                (Err(e), _) | (_, Err(e)) => Err(delivery(e)),
            }
        })
    }

    fn has_incident_channel(&self) -> bool {
        self.channel.is_some()
    }

    fn mention(&self, who: &str) -> String {
        match who.strip_prefix("discord:") {
            Some(id) => format!("<@{id}>"),
            None => who.to_string(),
        }
    }

    fn thread_link(&self, thread_id: &str) -> String {
        format!("<#{thread_id}>")
    }

    fn reply<'a>(
        &'a self,
        to: &'a ReplyTo,
        answer: &'a Answer,
    ) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            let (body, files) = self.render_answer(answer, None);
            let token = to.token.expose();
            let mut sent = self.rest.edit_original(token, &body, &files).await;
            // In http mode the work starts while our type 5 answer is still on
            // its way to Discord; a PATCH that outruns it meets "Unknown Webhook".
            if matches!(&sent, Err(e) if e.status == Some(404)) {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                sent = self.rest.edit_original(token, &body, &files).await;
            }
            let Err(failed) = sent else {
                return Ok(());
            };
            // The interaction token lives 15 minutes; when it is gone (or the
            // edit failed for good) the answer still reaches the channel,
            // posted with the bot's own token and naming who asked.
            let Some(channel) = &to.channel else {
                return Err(delivery(failed));
            };
            tracing::warn!(error = %failed, "answer not delivered through the interaction; posting it in the channel");
            let note = format!(
                "Answer for {} (the command's own reply could not be delivered):",
                self.mention(&to.asked_by)
            );
            let (body, files) = self.render_answer(answer, Some(&note));
            self.rest
                .post(channel, &body, &files)
                .await
                .map_err(|e| ChatError::Delivery(format!("{failed}; then in the channel: {e}")))
        })
    }
}
