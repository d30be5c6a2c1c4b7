//! The shared interaction handler: both delivery modes (http and gateway)
//! hand every interaction to [`Bot::handle`], which answers at once (PONG,
//! autocomplete, refusal, or "deferred") and returns the slow work to run
//! after the answer went out.

use std::num::NonZeroUsize;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::interaction::{
    self, APPLICATION_COMMAND, AUTOCOMPLETE, Interaction, MESSAGE_COMPONENT, PING,
};
use super::render;
use super::rest::Rest;
use super::surface::DiscordSurface;
use crate::app::Service;
use crate::chat::ReplyTo;
use crate::config::{Config, Discord};
use crate::engine::{self, Engine};
use crate::secret::{Redactor, Secret};
use crate::store::Store;

/// Everything the handler needs; shared by all interactions.
pub struct Bot {
    pub config: Arc<Config>,
    pub discord: Discord,
    pub rest: Rest,
    pub store: Store,
    pub redactor: Redactor,
    /// Runs what was asked and answers through [`DiscordSurface`].
    pub service: Arc<Service>,
    seen: Seen,
}

/// Interaction ids this process has seen (the newest [`Seen::CAP`]): a
/// redelivery is answered without running anything twice.
struct Seen(std::sync::Mutex<lru::LruCache<String, ()>>);

impl Seen {
    const CAP: NonZeroUsize = match NonZeroUsize::new(10_000) {
        Some(n) => n,
        None => NonZeroUsize::MIN,
    };

    fn new() -> Seen {
        Seen(std::sync::Mutex::new(lru::LruCache::new(Self::CAP)))
    }

    fn first_time(&self, id: &str) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.put(id.to_string(), ()).is_none()
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

/// Why the bot cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The config has no `[discord]` section.
    #[error("the config has no [discord] section")]
    NotConfigured,
    /// The probe engine's HTTP client could not be built.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}

impl Bot {
    /// A bot with an engine of its own.
    pub fn new(config: Arc<Config>, rest: Rest, store: Store) -> Result<Bot, BotError> {
        let engine = Arc::new(Engine::new(config)?);
        Bot::with_engine(engine, rest, store)
    }

    /// A bot sharing `engine` (and its HTTP client) with the rest of the process.
    pub fn with_engine(engine: Arc<Engine>, rest: Rest, store: Store) -> Result<Bot, BotError> {
        let config = engine.config().clone();
        let discord = config.discord.clone().ok_or(BotError::NotConfigured)?;
        let redactor = config.redactor();
        let surface = DiscordSurface::new(rest.clone(), discord.incident_channel, redactor.clone())
            .with_nodes(
                config
                    .cluster
                    .nodes
                    .iter()
                    .map(|n| n.name.clone())
                    .collect(),
            );
        let service = Arc::new(Service::new(engine, store.clone(), Arc::new(surface)));
        Ok(Bot {
            config,
            discord,
            rest,
            store,
            redactor,
            service,
            seen: Seen::new(),
        })
    }

    fn refuse(&self, text: &str) -> Handled {
        Handled::now(json!({"type": 4, "data": render::text(text, &self.redactor, true)}))
    }

    /// Answers one interaction. Never panics; a bad request is an ephemeral refusal.
    pub async fn handle(self: &Arc<Self>, ix: Interaction) -> Handled {
        match ix.kind {
            PING => Handled::now(json!({"type": 1})),
            // Only the configured guilds, through the guild install, may ask
            // anything (autocomplete included: it lists configured names).
            APPLICATION_COMMAND | MESSAGE_COMPONENT | AUTOCOMPLETE
                if let Err(foreign) = ix.check_origin(&self.discord.guilds) =>
            {
                tracing::info!(interaction = %ix.id, reason = %foreign, "interaction from outside the ops server refused");
                if ix.kind == AUTOCOMPLETE {
                    Handled::now(json!({"type": 8, "data": {"choices": []}}))
                } else {
                    self.refuse(&format!("Refused: {foreign}."))
                }
            }
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
                if cmd.needs_ops(&self.config) && !self.is_ops(&ix) {
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
                        let answer = match bot.store.claim_interaction(&ix.id).await {
                            Ok(true) => true,
                            Ok(false) => {
                                tracing::info!(interaction = %ix.id, "interaction already answered by another replica");
                                false
                            }
                            Err(e) => {
                                tracing::warn!(error = %bot.redactor.scrub(&e.to_string()), "cannot record interaction id; answering anyway");
                                true
                            }
                        };
                        if answer {
                            let to = ReplyTo {
                                token: Secret::new(ix.token.clone()),
                                channel: ix.channel_id.clone(),
                                asked_by: ix.who(),
                            };
                            bot.service.handle(cmd, &to).await;
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
}
