//! The handler both delivery modes share: a slash command or a click is
//! checked (workspace, org, words, ops), acknowledged at once (Slack wants
//! an answer within 3 s), and the slow work handed back to run after it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use sha2::Digest;

use super::api::Api;
use super::command::{self, BlockActions, Refusal, SlashCommand};
use super::render;
use super::surface::SlackSurface;
use crate::app::{Request, Service};
use crate::chat::ReplyTo;
use crate::config::{Config, Slack};
use crate::engine::Engine;
use crate::secret::{Redactor, Secret};
use crate::store::Store;

/// How long a user group's members are trusted before asking Slack again.
const GROUP_TTL: Duration = Duration::from_secs(60);
/// Longest the ops check may wait for Slack (the ack must go within 3 s).
const GROUP_TIMEOUT: Duration = Duration::from_millis(1500);

pub struct SlackBot {
    pub config: Arc<Config>,
    pub slack: Slack,
    pub api: Api,
    pub store: Store,
    pub redactor: Redactor,
    /// Runs what was asked and answers through the surface.
    pub service: Arc<Service>,
    groups: tokio::sync::Mutex<Option<(Instant, Vec<String>)>>,
}

/// The immediate answer (`None`: an empty 200) and the work after it.
pub struct Handled {
    pub ack: Option<Value>,
    pub work: Option<BoxFuture<'static, ()>>,
}

/// Why the bot cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    #[error("the config has no [slack] section")]
    NotConfigured,
    #[error("cannot build the Slack client: {0}")]
    Client(#[source] reqwest::Error),
}

fn ephemeral(text: &str, redactor: &Redactor) -> Value {
    let mut v = render::text(text, redactor);
    v["response_type"] = json!("ephemeral");
    v
}

impl SlackBot {
    /// The Web API client for `[slack]`.
    pub fn api(config: &Config) -> Result<Api, BotError> {
        let s = config.slack.as_ref().ok_or(BotError::NotConfigured)?;
        Api::new(&s.api_base, s.bot_token.clone(), config.redactor()).map_err(BotError::Client)
    }

    /// A bot sharing `engine` with the process, answering through its own surface.
    pub fn with_engine(engine: Arc<Engine>, api: Api, store: Store) -> Result<SlackBot, BotError> {
        let config = engine.config().clone();
        let slack = config.slack.clone().ok_or(BotError::NotConfigured)?;
        let redactor = config.redactor();
        let surface = SlackSurface::new(
            api.clone(),
            slack.incident_channel.clone(),
            redactor.clone(),
        )
        .with_nodes(
            config
                .cluster
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .collect(),
        );
        let service = Arc::new(Service::new(engine, store.clone(), Arc::new(surface)));
        Ok(SlackBot {
            config,
            slack,
            api,
            store,
            redactor,
            service,
            groups: tokio::sync::Mutex::new(None),
        })
    }

    /// Members of every ops user group, cached; Slack failing means no one
    /// is ops through a group (listed users still are).
    async fn group_members(&self) -> Vec<String> {
        if self.slack.ops_user_groups.is_empty() {
            return Vec::new();
        }
        let mut cache = self.groups.lock().await;
        if let Some((at, members)) = cache.as_ref()
            && at.elapsed() < GROUP_TTL
        {
            return members.clone();
        }
        // All groups at once, under one bound: the ack must still go in time.
        let reads = futures::future::join_all(
            self.slack
                .ops_user_groups
                .iter()
                .map(|g| self.api.group_members(g)),
        );
        let mut members = Vec::new();
        let mut complete = true;
        match tokio::time::timeout(GROUP_TIMEOUT, reads).await {
            Ok(results) => {
                for (g, r) in self.slack.ops_user_groups.iter().zip(results) {
                    match r {
                        Ok(m) => members.extend(m),
                        Err(e) => {
                            complete = false;
                            tracing::warn!(error = %e, group = %g, "ops user group not read");
                        }
                    }
                }
            }
            Err(_) => {
                complete = false;
                tracing::warn!("ops user groups not read in time");
            }
        }
        // Only a full answer is remembered: a failed read is retried next time.
        if complete {
            *cache = Some((Instant::now(), members.clone()));
        }
        members
    }

    /// Checks who asked for `request`; the refusal text otherwise.
    async fn check_ops(&self, request: &Request, user: &str) -> Result<(), Refusal> {
        if !request.needs_ops(&self.config) {
            return Ok(());
        }
        if command::is_ops(&self.slack, user, &[]) {
            return Ok(());
        }
        let members = self.group_members().await;
        if command::is_ops(&self.slack, user, &members) {
            return Ok(());
        }
        Err(Refusal::NotOps(request.label()))
    }

    /// The work for an accepted request: claim it once across replicas,
    /// then run and answer.
    fn work(
        self: &Arc<Self>,
        request: Request,
        trigger_id: &str,
        to: ReplyTo,
    ) -> BoxFuture<'static, ()> {
        let bot = self.clone();
        // Trigger ids can be near the store's 64 characters: keep a digest.
        let digest = hex::encode(sha2::Sha256::digest(trigger_id.as_bytes()));
        let claim = format!("slack:{}", &digest[..32]);
        let has_trigger = !trigger_id.is_empty();
        Box::pin(async move {
            if has_trigger {
                match bot.store.claim_interaction(&claim).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!("slack command already answered by another replica");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %bot.redactor.scrub(&e.to_string()), "cannot record slack trigger id; answering anyway");
                    }
                }
            }
            bot.service.handle(request, &to).await;
        })
    }

    /// Answers a slash command. Never panics; a bad one is an ephemeral refusal.
    pub async fn command(self: &Arc<Self>, cmd: SlashCommand) -> Handled {
        let refuse = |r: Refusal| Handled {
            ack: Some(ephemeral(
                &match r {
                    Refusal::Usage(u) => u,
                    other => format!("Refused: {other}."),
                },
                &self.redactor,
            )),
            work: None,
        };
        if let Err(r) =
            command::check_origin(&self.slack, &cmd.team_id, cmd.enterprise_id.as_deref())
        {
            tracing::info!(reason = %r, "slack command from outside the workspace refused");
            return refuse(r);
        }
        let request = match command::parse_text(&self.config, &cmd.text) {
            Ok(r) => r,
            Err(r) => return refuse(r),
        };
        if let Err(r) = self.check_ops(&request, &cmd.user_id).await {
            return refuse(r);
        }
        let to = ReplyTo {
            token: Secret::new(cmd.response_url.clone()),
            channel: cmd.channel_id.clone().filter(|c| !c.is_empty()),
            asked_by: command::who(&cmd.user_id),
        };
        let ack = ephemeral(
            &format!("Working on `{}`…", request.label()),
            &self.redactor,
        );
        Handled {
            ack: Some(ack),
            work: Some(self.work(request, &cmd.trigger_id, to)),
        }
    }

    /// Answers a `block_actions` click: acknowledged empty at once; a
    /// refusal goes to the clicker through the `response_url`.
    pub async fn action(self: &Arc<Self>, a: BlockActions) -> Handled {
        let empty = Handled {
            ack: None,
            work: None,
        };
        if a.kind != "block_actions" {
            return empty;
        }
        let team = a.team.as_ref().map(|t| t.id.as_str()).unwrap_or_default();
        let org = a.enterprise.as_ref().map(|e| e.id.as_str());
        let user = a.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
        let response_url = Secret::new(a.response_url.clone().unwrap_or_default());
        let checked = match command::check_origin(&self.slack, team, org) {
            Err(r) => Err(r),
            Ok(()) => match a.actions.first() {
                None => Err(Refusal::UnknownButton),
                Some(action) => command::parse_action(&self.config, action),
            },
        };
        let checked = match checked {
            Ok(request) => self.check_ops(&request, &user).await.map(|_| request),
            Err(r) => Err(r),
        };
        match checked {
            Ok(request) => {
                let to = ReplyTo {
                    token: response_url,
                    channel: a
                        .channel
                        .as_ref()
                        .map(|c| c.id.clone())
                        .filter(|c| !c.is_empty()),
                    asked_by: command::who(&user),
                };
                Handled {
                    ack: None,
                    work: Some(self.work(request, &a.trigger_id, to)),
                }
            }
            Err(r) => {
                tracing::info!(reason = %r, "slack button click refused");
                if response_url.is_empty() {
                    return empty;
                }
                let bot = self.clone();
                let mut body = ephemeral(&format!("Refused: {r}."), &self.redactor);
                body["replace_original"] = json!(false);
                Handled {
                    ack: None,
                    work: Some(Box::pin(async move {
                        if let Err(e) = bot.api.respond(&response_url, &body).await {
                            tracing::warn!(error = %e, "refusal not delivered");
                        }
                    })),
                }
            }
        }
    }
}
