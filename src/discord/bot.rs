//! The shared interaction handler: both delivery modes (http and gateway)
//! hand every interaction to [`Bot::handle`], which answers at once (PONG,
//! autocomplete, refusal, or "deferred") and returns the slow work to run
//! after the answer went out.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::interaction::{
    self, APPLICATION_COMMAND, AUTOCOMPLETE, Command, Interaction, MESSAGE_COMPONENT, PING,
};
use super::render::{self, Extras};
use super::rest::Rest;
use crate::config::{Config, Discord};
use crate::engine::{self, Report};
use crate::finding::Severity;
use crate::secret::Redactor;
use crate::store::Store;

/// Everything the handler needs; shared by all interactions.
pub struct Bot {
    pub config: Arc<Config>,
    pub discord: Discord,
    pub rest: Rest,
    pub store: Store,
    pub redactor: Redactor,
    seen: Seen,
}

/// Interaction ids this process has seen (the newest [`Seen::CAP`]).
#[derive(Default)]
struct Seen(
    std::sync::Mutex<(
        std::collections::HashSet<String>,
        std::collections::VecDeque<String>,
    )>,
);

impl Seen {
    const CAP: usize = 10_000;

    fn first_time(&self, id: &str) -> bool {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &mut *g;
        if !set.insert(id.to_string()) {
            return false;
        }
        order.push_back(id.to_string());
        if order.len() > Self::CAP
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }
}

/// The immediate answer and the work to run once it was sent.
pub struct Handled {
    pub reply: Value,
    pub work: Option<BoxFuture<'static, ()>>,
}

impl Handled {
    fn now(reply: Value) -> Handled {
        Handled { reply, work: None }
    }
}

/// Interaction callback type 5: "thinking…", the verdict follows by PATCH.
pub fn deferred() -> Value {
    json!({"type": 5, "data": {"allowed_mentions": {"parse": []}}})
}

impl Bot {
    pub fn new(config: Arc<Config>, rest: Rest, store: Store) -> anyhow::Result<Bot> {
        let discord = config
            .discord
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the config has no [discord] section"))?;
        let redactor = config.redactor();
        Ok(Bot {
            config,
            discord,
            rest,
            store,
            redactor,
            seen: Seen::default(),
        })
    }

    fn refuse(&self, text: &str) -> Handled {
        Handled::now(json!({"type": 4, "data": render::text(text, &self.redactor, true)}))
    }

    /// Answers one interaction. Never panics; a bad request is an ephemeral refusal.
    pub async fn handle(self: &Arc<Self>, ix: Interaction) -> Handled {
        match ix.kind {
            PING => Handled::now(json!({"type": 1})),
            AUTOCOMPLETE => {
                let (name, typed) = ix
                    .data
                    .as_ref()
                    .and_then(interaction::focused)
                    .unwrap_or_default();
                let choices: Vec<Value> = interaction::choices(&self.config, &name, &typed)
                    .into_iter()
                    .map(|c| json!({"name": c, "value": c}))
                    .collect();
                Handled::now(json!({"type": 8, "data": {"choices": choices}}))
            }
            APPLICATION_COMMAND | MESSAGE_COMPONENT => {
                let data = ix.data.clone().unwrap_or_default();
                let parsed = if ix.kind == MESSAGE_COMPONENT {
                    interaction::command_of_custom_id(data.custom_id.as_deref().unwrap_or(""))
                } else {
                    interaction::command_of(&data)
                };
                let cmd = match parsed {
                    Ok(c) => c,
                    Err(e) => return self.refuse(&format!("Refused: {e}.")),
                };
                if let Err(e) = engine::validate_scope(&self.config, &cmd.scope()) {
                    return self.refuse(&format!("Refused: {e}."));
                }
                if cmd.needs_ops() && !self.is_ops(&ix) {
                    return self.refuse(&format!(
                        "Refused: `{}` needs one of the roles in [discord] ops_roles.",
                        cmd.label()
                    ));
                }
                // Fast check in memory here; the store (shared by replicas)
                // is asked in the work, off the path to the type 5 answer.
                if !self.seen.first_time(&ix.id) {
                    tracing::info!(interaction = %ix.id, "duplicate delivery; already answered");
                    return Handled::now(deferred());
                }
                let bot = self.clone();
                Handled {
                    reply: deferred(),
                    work: Some(Box::pin(async move {
                        match bot.store.claim_interaction(&ix.id).await {
                            Ok(true) => bot.answer(ix, cmd).await,
                            Ok(false) => {
                                tracing::info!(interaction = %ix.id, "interaction already answered by another replica");
                            }
                            Err(e) => {
                                tracing::warn!(error = %bot.redactor.scrub(&e.to_string()), "cannot record interaction id; answering anyway");
                                bot.answer(ix, cmd).await;
                            }
                        }
                    })),
                }
            }
            other => self.refuse(&format!("Unsupported interaction type {other}.")),
        }
    }

    fn is_ops(&self, ix: &Interaction) -> bool {
        let roles = ix.roles();
        self.discord.ops_roles.iter().any(|r| roles.contains(r))
    }

    /// The slow part: run, record, post to the incident thread, PATCH @original.
    pub async fn answer(self: Arc<Self>, ix: Interaction, cmd: Command) {
        let who = ix.who();
        let (body, files) = match cmd {
            Command::IncidentStatus => (self.incident_status().await, Vec::new()),
            Command::IncidentClose => (self.incident_close(&who).await, Vec::new()),
            _ => {
                let report = self.run(&cmd, &who).await;
                let force = cmd == Command::IncidentOpen;
                let thread = if report.status == Severity::Fail || force {
                    self.post_to_incident(&report, &who, force).await
                } else {
                    None
                };
                let content = thread.map(|t| format!("Incident thread: <#{t}>"));
                let mut msg = self.render(&report, &cmd, content.as_deref());
                // Health verdicts carry the per-node latency chart.
                if matches!(cmd, Command::Health { .. })
                    && let Ok(Some(png)) = crate::render::chart::latency_png(&report)
                {
                    msg = msg.with_chart("latency.png", png);
                }
                (msg.json.clone(), msg.files())
            }
        };
        let mut sent = self.rest.edit_original(&ix.token, &body, &files).await;
        // In http mode the work starts while our type 5 answer is still on
        // its way to Discord; a PATCH that outruns it meets "Unknown Webhook".
        if matches!(&sent, Err(e) if e.status == Some(404)) {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            sent = self.rest.edit_original(&ix.token, &body, &files).await;
        }
        if let Err(e) = sent {
            tracing::error!(error = %self.redactor.scrub(&e.to_string()), interaction = %ix.id, "verdict not delivered");
        }
    }

    pub fn render(&self, report: &Report, cmd: &Command, content: Option<&str>) -> render::Message {
        let label = cmd.label();
        let rerun = cmd.custom_id();
        let pin = report
            .verdict
            .culprits
            .iter()
            .find(|c| self.config.node(c).is_some())
            .map(String::as_str);
        render::verdict(
            report,
            &self.redactor,
            &Extras {
                command_label: Some(&label),
                rerun_id: rerun.as_deref(),
                pin_node: pin,
                content,
            },
        )
    }

    async fn run(&self, cmd: &Command, who: &str) -> Report {
        let kinds = cmd.kinds(&self.config);
        let run_id = match self
            .store
            .start_run(&self.config.cluster.name, who, &kinds)
            .await
        {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(error = %self.redactor.scrub(&e.to_string()), "run not recorded");
                None
            }
        };
        let report = match engine::run(self.config.clone(), &kinds, cmd.scope()).await {
            Ok(r) => r,
            Err(e) => Report::from_findings(
                &self.config.cluster.name,
                vec![crate::finding::Finding::new(
                    crate::finding::ProbeKind::Health,
                    Severity::Unknown,
                    "aisbf-doctor",
                    crate::finding::Code::DoctorError,
                    format!("internal error: {e}"),
                )],
                None,
                0,
            ),
        };
        if let Some(id) = run_id
            && let Err(e) = self.store.finish_run(id, &report).await
        {
            tracing::warn!(error = %self.redactor.scrub(&e.to_string()), "run not recorded");
        }
        report
    }

    /// Opens (or reuses) the cluster's incident and its thread, posts the
    /// verdict there; returns the thread id.
    async fn post_to_incident(&self, report: &Report, who: &str, force: bool) -> Option<String> {
        let cluster = &self.config.cluster.name;
        let scrub = |e: &dyn std::fmt::Display| self.redactor.scrub(&e.to_string());
        let incident = match self.store.open_incident_of(cluster).await {
            Ok(Some(i)) => i,
            Ok(None) if report.status == Severity::Fail || force => {
                match self.store.open_incident(cluster, report, who).await {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::warn!(error = %scrub(&e), "incident not opened");
                        return None;
                    }
                }
            }
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %scrub(&e), "incident store unreadable");
                return None;
            }
        };
        // Without an incident channel the incident lives in the store only.
        let channel = self.discord.incident_channel?;
        let thread = match &incident.thread_id {
            Some(t) => t.clone(),
            None => {
                let name = thread_name(report);
                match self.rest.create_thread(channel, &name).await {
                    Ok(t) => {
                        if let Err(e) = self.store.set_thread(incident.id, &t).await {
                            tracing::warn!(error = %scrub(&e), "thread id not stored");
                        }
                        t
                    }
                    Err(e) => {
                        tracing::error!(error = %scrub(&e), "incident thread not created");
                        return None;
                    }
                }
            }
        };
        let msg = render::verdict(report, &self.redactor, &Extras::default());
        if let Err(e) = self.rest.post(&thread, &msg.json, &msg.files()).await {
            tracing::error!(error = %scrub(&e), "verdict not posted to the incident thread");
        }
        Some(thread)
    }

    async fn incident_status(&self) -> Value {
        let cluster = &self.config.cluster.name;
        let text = match (
            self.store.open_incident_of(cluster).await,
            self.store.open_follow_ups_of(Some(cluster)).await,
        ) {
            (Ok(Some(i)), Ok(f)) => {
                let thread = i
                    .thread_id
                    .as_ref()
                    .map(|t| format!("\nThread: <#{t}>"))
                    .unwrap_or_default();
                format!("```\n{}```{thread}", crate::render::incidents::show(&i, &f))
            }
            (Ok(None), Ok(f)) => format!(
                "No open incident for {cluster}.\n```\n{}```",
                crate::render::incidents::list(&[], &f)
            ),
            (Err(e), _) | (_, Err(e)) => format!("Cannot read the incident store: {e}"),
        };
        render::text(&text, &self.redactor, false)
    }

    async fn incident_close(&self, who: &str) -> Value {
        let cluster = &self.config.cluster.name;
        let text = match self.store.open_incident_of(cluster).await {
            Ok(None) => format!("No open incident for {cluster}."),
            Err(e) => format!("Cannot read the incident store: {e}"),
            Ok(Some(i)) => {
                let summary = format!(
                    "Incident #{} closed by <@{}>: {} (layer {}, culprits {}).",
                    i.id,
                    who.trim_start_matches("discord:"),
                    i.summary,
                    <&str>::from(i.layer),
                    if i.culprits.is_empty() {
                        "none".to_string()
                    } else {
                        i.culprits.join(", ")
                    }
                );
                let mut problems = Vec::new();
                if let Some(t) = &i.thread_id {
                    let body = render::text(&summary, &self.redactor, false);
                    if let Err(e) = self.rest.post(t, &body, &[]).await {
                        problems.push(e.to_string());
                    }
                    if let Err(e) = self.rest.archive_thread(t).await {
                        problems.push(e.to_string());
                    }
                }
                match self.store.close_incident(i.id, who, &summary).await {
                    Ok(()) if problems.is_empty() => summary,
                    Ok(()) => format!("{summary}\nBut: {}", problems.join("; ")),
                    Err(e) => format!("Incident #{} not closed: {e}", i.id),
                }
            }
        };
        render::text(&text, &self.redactor, false)
    }
}

/// "<cluster> · <layer> · <culprit>", at most 100 characters.
pub fn thread_name(report: &Report) -> String {
    let culprit = report
        .verdict
        .culprits
        .first()
        .cloned()
        .unwrap_or_else(|| "cluster".into());
    let name = format!(
        "{} · {} · {}",
        report.cluster,
        crate::render::words(report.verdict.layer),
        culprit
    );
    render::clip(&name, 100).0
}
