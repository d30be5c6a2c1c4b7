//! The Discord edge: `/aisbf` slash commands in gateway or http mode, verdicts
//! rendered as embeds, incident threads, and watch-mode announcements.
//!
//! Pure parts: [`interaction`] (parsing, commands, autocomplete), [`render`]
//! (verdict → message JSON), [`commands`] (the command tree). I/O: [`rest`],
//! [`server`] (http mode), [`gateway`] (serenity), [`bot`] (the shared handler).

pub mod announcer;
pub mod bot;
pub mod commands;
pub mod gateway;
pub mod interaction;
pub mod render;
pub mod rest;
pub mod server;
pub mod verify;

use std::sync::Arc;

pub use announcer::DiscordAnnouncer;
pub use bot::Bot;
pub use rest::Rest;

use crate::config::Config;
use crate::config::discord::Mode;

/// Builds the bot from config: opens the store (marking runs a dead bot left
/// `running` as interrupted) and the REST client, which counts its posts in
/// `metrics`.
pub async fn bot(
    config: Arc<Config>,
    store_url: &crate::secret::Secret,
    metrics: Option<crate::metrics::Metrics>,
) -> anyhow::Result<Arc<Bot>> {
    let Some(d) = config.discord.clone() else {
        anyhow::bail!("the config has no [discord] section");
    };
    let redactor = config.redactor();
    let store = crate::store::Store::open(store_url)
        .await
        .map_err(|e| anyhow::anyhow!(redactor.scrub(&e.to_string())))?;
    // Only runs far older than any deadline: another replica may be mid-run.
    let stale = config.cluster.deadline_ms.saturating_mul(2) + 60_000;
    let stale = i64::try_from(stale).unwrap_or(i64::MAX);
    match store
        .mark_interrupted(crate::store::now_ms().saturating_sub(stale))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            runs = n,
            "runs left running by a previous bot marked interrupted"
        ),
        Err(e) => {
            tracing::warn!(error = %redactor.scrub(&e.to_string()), "cannot mark interrupted runs")
        }
    }
    let mut rest = Rest::new(&d.api_base, d.token.clone(), d.application_id)?;
    rest.metrics = metrics;
    Ok(Arc::new(Bot::new(config, rest, store)?))
}

/// Starts what runs beside the command handler: the `[metrics]` endpoint
/// (`/metrics`, `/healthz`) and, with `[watch]`, the schedule, announcing into
/// the incident channel.
async fn start_background(bot: &Arc<Bot>, metrics: &crate::metrics::Metrics) -> anyhow::Result<()> {
    let config = bot.config.clone();
    if let Some(m) = &config.metrics {
        crate::metrics::serve(m.listen, metrics.clone(), std::future::pending())
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {} for metrics: {e}", m.listen))?;
        tracing::info!(listen = %m.listen, "metrics endpoint ready");
    }
    if config.watch.is_some() {
        let Some(channel) = bot.discord.incident_channel else {
            anyhow::bail!("[watch] in serve needs discord.incident_channel to announce into");
        };
        let announcer = Arc::new(DiscordAnnouncer::new(
            bot.rest.clone(),
            channel,
            bot.redactor.clone(),
        ));
        let store = bot.store.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) =
                crate::watch_runner::run(config, store, announcer, metrics, std::future::pending())
                    .await
            {
                tracing::error!(error = %e, "watch mode stopped");
            }
        });
    }
    Ok(())
}

/// `aisbf-doctor serve`: runs the bot in the configured mode until it fails.
pub async fn serve(config: Arc<Config>, store_url: &crate::secret::Secret) -> anyhow::Result<()> {
    let metrics = crate::metrics::Metrics::new();
    let bot = bot(config, store_url, Some(metrics.clone())).await?;
    start_background(&bot, &metrics).await?;
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
