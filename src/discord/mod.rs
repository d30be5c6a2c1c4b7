//! The Discord surface: `/aisbf` slash commands in gateway or http mode,
//! verdicts rendered as embeds, incident threads.
//!
//! Pure parts: [`interaction`] (parsing into an [`crate::app::Request`],
//! autocomplete), [`render`] (verdict → message JSON), [`commands`] (the
//! command tree, from the probe registry). I/O: [`rest`], [`server`] (http
//! mode), [`gateway`] (serenity), [`surface`] (the [`crate::chat::ChatSurface`]),
//! [`bot`] (the handler both modes share: verify, parse, defer, hand over).

pub mod bot;
pub mod commands;
pub mod fake;
pub mod gateway;
pub mod interaction;
pub mod render;
pub mod rest;
pub mod server;
pub mod surface;
pub mod verify;

use std::sync::Arc;

pub use bot::Bot;
pub use rest::Rest;
pub use surface::DiscordSurface;

use crate::config::discord::Mode;

/// Answers interactions in the configured mode until delivery fails.
pub async fn listen(bot: Arc<Bot>) -> anyhow::Result<()> {
    match bot.discord.mode {
        Mode::Http => {
            let Some(raw) = bot.discord.public_key else {
                anyhow::bail!("discord.public_key is required in http mode");
            };
            let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)?;
            let addr = bot.discord.interactions_endpoint;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            let local = listener.local_addr()?;
            tracing::info!(%local, "http mode: interactions endpoint ready");
            eprintln!(
                "aisbf-doctor: serving Discord interactions on http://{local}/ (healthz: /healthz)"
            );
            server::serve(listener, bot, key).await?;
            Ok(())
        }
        Mode::Gateway => {
            let mut client = gateway::client(bot, None).await?;
            eprintln!("aisbf-doctor: connecting to the Discord gateway");
            client.start().await?;
            Ok(())
        }
    }
}
