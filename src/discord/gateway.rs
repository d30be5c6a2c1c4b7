//! Gateway mode: a serenity client on Discord's websocket; every
//! INTERACTION_CREATE goes to the same [`Bot::handle`] as in http mode, and
//! the answer is sent with the interaction callback.

use std::sync::Arc;

use serenity::all::{ApplicationId, Context, EventHandler, GatewayIntents, Interaction, Ready};
use serenity::http::HttpBuilder;

use super::bot::Bot;
use crate::config::discord::DEFAULT_API_BASE;

/// Serenity's interaction as Discord's JSON again (serenity leaves out the
/// top-level `type`), so both modes share one parser.
pub fn reencode(interaction: &Interaction) -> serde_json::Result<Vec<u8>> {
    let kind = match interaction {
        Interaction::Ping(_) => 1,
        Interaction::Command(_) => 2,
        Interaction::Component(_) => 3,
        Interaction::Autocomplete(_) => 4,
        Interaction::Modal(_) => 5,
        _ => 0,
    };
    let mut v = serde_json::to_value(interaction)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("type".into(), kind.into());
    }
    serde_json::to_vec(&v)
}

struct Handler {
    bot: Arc<Bot>,
    ready: Option<tokio::sync::mpsc::UnboundedSender<()>>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(session = %ready.session_id, "gateway ready");
        if let Some(tx) = &self.ready {
            let _ = tx.send(());
        }
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let raw = match reencode(&interaction) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "interaction not re-encoded");
                return;
            }
        };
        let ix = match super::interaction::parse(&raw) {
            Ok(ix) => ix,
            Err(e) => {
                tracing::warn!(error = %e, "malformed interaction from the gateway");
                return;
            }
        };
        let (id, token) = (ix.id.clone(), ix.token.clone());
        let handled = self.bot.handle(ix).await;
        if let Err(e) = self
            .bot
            .rest
            .interaction_callback(&id, &token, &handled.reply)
            .await
        {
            tracing::error!(error = %e, interaction = %id, "interaction not answered");
            return;
        }
        if let Some(work) = handled.work {
            tokio::spawn(crate::memory::returning_memory_after(work));
        }
    }
}

/// Builds the serenity client. With a custom `api_base` its HTTP goes through
/// serenity's proxy setting (and its rate limiter, which ignores the proxy in
/// 0.12, is off; our own REST client honours 429s).
pub async fn client(
    bot: Arc<Bot>,
    ready: Option<tokio::sync::mpsc::UnboundedSender<()>>,
) -> Result<serenity::Client, serenity::Error> {
    let d = &bot.discord;
    let mut http =
        HttpBuilder::new(d.token.expose()).application_id(ApplicationId::new(d.application_id));
    if d.api_base != DEFAULT_API_BASE {
        let proxy = d.api_base.trim_end_matches("/api/v10").to_string();
        http = http.proxy(proxy).ratelimiter_disabled(true);
    }
    let client = serenity::all::ClientBuilder::new_with_http(http.build(), GatewayIntents::GUILDS)
        .event_handler(Handler { bot, ready })
        .await?;
    Ok(client)
}
