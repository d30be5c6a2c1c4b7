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

/// Why the bot stopped answering.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// Http mode without `discord.public_key`.
    #[error("discord.public_key is required in http mode")]
    NoPublicKey,
    /// `discord.public_key` is not an Ed25519 public key.
    #[error("discord.public_key is not a valid Ed25519 key: {0}")]
    BadPublicKey(#[source] ed25519_dalek::SignatureError),
    /// The interactions endpoint's address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The http-mode server failed.
    #[error("interactions endpoint failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The gateway connection failed for good.
    #[error("gateway: {0}")]
    Gateway(#[from] serenity::Error),
}

/// Answers interactions in the configured mode until delivery fails.
pub async fn listen(bot: Arc<Bot>) -> Result<(), ListenError> {
    match bot.discord.mode {
        Mode::Http => {
            let raw = bot.discord.public_key.ok_or(ListenError::NoPublicKey)?;
            let key =
                ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(ListenError::BadPublicKey)?;
            let addr = bot.discord.interactions_endpoint;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ListenError::Bind { addr, source })?;
            let local = listener.local_addr().map_err(ListenError::Serve)?;
            tracing::info!(%local, "http mode: interactions endpoint ready");
            eprintln!(
                "aisbf-doctor: serving Discord interactions on http://{local}/ (healthz: /healthz)"
            );
            server::serve(listener, bot, key)
                .await
                .map_err(ListenError::Serve)
        }
        Mode::Gateway => {
            let mut client = gateway::client(bot, None).await?;
            eprintln!("aisbf-doctor: connecting to the Discord gateway");
            client.start().await?;
            Ok(())
        }
    }
}
