//! The Slack surface: one `/aisbf` slash command with a text argument, in
//! Socket Mode (the default) or http mode; verdicts as Block Kit messages;
//! incidents as a message in the incident channel and its thread.
//!
//! Pure parts: [`command`] (payloads, text into an [`crate::app::Request`],
//! who may ask), [`render`] (verdict → Block Kit), [`verify`] (request
//! signatures). I/O: [`api`] (the Web API), [`surface`] (the
//! [`crate::chat::ChatSurface`]), [`bot`] (the handler both modes share),
//! [`server`] (http mode) and [`socket`] (Socket Mode).
//!
//! Hand-written on reqwest, tokio-tungstenite and hmac rather than
//! slack-morphism: see README, "Running it in Slack".

pub mod api;
pub mod bot;
pub mod command;
pub mod render;
pub mod server;
pub mod socket;
pub mod surface;
pub mod verify;

use std::sync::Arc;

pub use api::Api;
pub use bot::SlackBot;
pub use surface::SlackSurface;

use crate::config::slack::Mode;

/// Why the app stopped answering.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// Socket Mode without `slack.app_token`.
    #[error("slack.app_token is required in socket mode")]
    NoAppToken,
    /// The http endpoint's address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The http-mode server failed.
    #[error("slack endpoint failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Answers commands in the configured mode until delivery fails for good.
pub async fn listen(bot: Arc<SlackBot>) -> Result<(), ListenError> {
    match bot.slack.mode {
        Mode::Http => {
            let addr = bot.slack.listen;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ListenError::Bind { addr, source })?;
            let local = listener.local_addr().map_err(ListenError::Serve)?;
            tracing::info!(%local, "slack http mode: endpoint ready");
            eprintln!(
                "aisbf-doctor: serving Slack on http://{local}/slack/commands and /slack/actions"
            );
            server::serve(listener, bot)
                .await
                .map_err(ListenError::Serve)
        }
        Mode::Socket => {
            let token = bot.slack.app_token.clone().ok_or(ListenError::NoAppToken)?;
            eprintln!("aisbf-doctor: connecting to Slack in Socket Mode");
            socket::run(bot, token).await;
            Ok(())
        }
    }
}
