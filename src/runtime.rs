//! The long-running process, assembled from its parts: `serve` (the chat
//! bots, Discord and/or Slack, with the metrics endpoint and the watch schedule beside it) and
//! `watch` (the schedule alone, announcing on stdout).
//!
//! Surfaces and watch mode share one [`Engine`] (one HTTP client) and one
//! store; runs a dead replica left `running` are marked interrupted once, here.

use std::future::Future;
use std::sync::Arc;

use aisbf_doctor::app::Service;
use aisbf_doctor::chat::ChatSurface;
use aisbf_doctor::chat::fanout::Fanout;
use aisbf_doctor::chat::stdout::StdoutSurface;
use aisbf_doctor::config::Config;
use aisbf_doctor::discord::{Bot, Rest};
use aisbf_doctor::engine::Engine;
use aisbf_doctor::metrics::Metrics;
use aisbf_doctor::secret::Secret;
use aisbf_doctor::slack::SlackBot;
use aisbf_doctor::store::{Store, now_ms};
use aisbf_doctor::watch_runner::{self, Runner};

/// Opens the store and marks runs left `running` by a dead process as
/// interrupted: only runs far older than any deadline, since another replica
/// may be mid-run.
pub async fn open_store(config: &Config, url: &Secret) -> anyhow::Result<Store> {
    let redactor = config.redactor();
    let store = Store::open(url)
        .await
        .map_err(|e| anyhow::anyhow!(redactor.scrub(&e.to_string())))?;
    let stale = config.cluster.deadline_ms.saturating_mul(2) + 60_000;
    let stale = i64::try_from(stale).unwrap_or(i64::MAX);
    match store.mark_interrupted(now_ms().saturating_sub(stale)).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            runs = n,
            "runs left running by a dead process marked interrupted"
        ),
        Err(e) => {
            tracing::warn!(error = %redactor.scrub(&e.to_string()), "cannot mark interrupted runs")
        }
    }
    Ok(store)
}

/// `aisbf-doctor serve`: the Discord bot and/or the Slack app, the
/// `[metrics]` endpoint and, with `[watch]`, one schedule announcing into
/// every configured incident channel.
pub async fn serve(config: Arc<Config>, store_url: &Secret) -> anyhow::Result<()> {
    if config.discord.is_none() && config.slack.is_none() {
        anyhow::bail!("the config has neither a [discord] nor a [slack] section");
    }
    let metrics = Metrics::new();
    let store = open_store(&config, store_url).await?;
    let engine = Arc::new(Engine::new(config.clone())?);
    let mut surfaces: Vec<(String, Arc<dyn ChatSurface>)> = Vec::new();
    let mut discord = None;
    if let Some(d) = config.discord.clone() {
        let mut rest = Rest::new(&d.api_base, d.token.clone(), d.application_id)?;
        // The REST client counts every post, whoever sends it.
        rest.metrics = Some(metrics.clone());
        let bot = Bot::with_engine(engine.clone(), rest, store.clone())?;
        surfaces.push(("discord".into(), bot.service.surface().clone()));
        discord = Some(bot);
    }
    let mut slack = None;
    if config.slack.is_some() {
        let api = SlackBot::api(&config)?;
        let bot = SlackBot::with_engine(engine.clone(), api, store.clone())?;
        surfaces.push(("slack".into(), bot.service.surface().clone()));
        slack = Some(bot);
    }
    // One surface for every post of the process (one fence memory each);
    // with two chats, incidents and watch announcements go to both.
    let surface: Arc<dyn ChatSurface> = match surfaces.len() {
        1 => surfaces.remove(0).1,
        _ => {
            let fanout: Arc<dyn ChatSurface> = Arc::new(Fanout::new(surfaces));
            let service = Arc::new(Service::new(engine.clone(), store.clone(), fanout.clone()));
            if let Some(b) = discord.as_mut() {
                b.service = service.clone();
            }
            if let Some(b) = slack.as_mut() {
                b.service = service;
            }
            fanout
        }
    };

    if let Some(m) = &config.metrics {
        aisbf_doctor::metrics::serve(m.listen, metrics.clone(), std::future::pending())
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {} for metrics: {e}", m.listen))?;
        tracing::info!(listen = %m.listen, "metrics endpoint ready");
    }
    if config.watch.is_some() {
        if !surface.has_incident_channel() {
            anyhow::bail!(
                "[watch] in serve needs discord.incident_channel or slack.incident_channel to announce into"
            );
        }
        let runner = Runner::with_engine(engine, store, surface, metrics).await?;
        tokio::spawn(async move {
            if let Err(e) = watch_runner::run(Arc::new(runner), std::future::pending()).await {
                tracing::error!(error = %e, "watch mode stopped");
            }
        });
    }
    let discord = async move {
        match discord {
            Some(bot) => aisbf_doctor::discord::listen(Arc::new(bot))
                .await
                .map_err(anyhow::Error::from),
            None => std::future::pending().await,
        }
    };
    let slack = async move {
        match slack {
            Some(bot) => aisbf_doctor::slack::listen(Arc::new(bot))
                .await
                .map_err(anyhow::Error::from),
            None => std::future::pending().await,
        }
    };
    // Either chat failing for good stops the process (a supervisor restarts it).
    tokio::select! {
        r = discord => r,
        r = slack => r,
    }
}

/// `aisbf-doctor watch`: the schedule alone, one line per change on stdout;
/// with `once`, one scheduled run (for cron).
pub async fn watch(
    config: Arc<Config>,
    store_url: &Secret,
    once: bool,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let store = open_store(&config, store_url).await?;
    let engine = Arc::new(Engine::new(config.clone())?);
    let surface: Arc<dyn ChatSurface> = Arc::new(StdoutSurface::default());
    let runner = Runner::with_engine(engine, store, surface, metrics.clone()).await?;
    if once {
        let result = runner.tick().await;
        runner.release().await;
        result?;
        return Ok(());
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(m) = &config.metrics {
        let mut rx = stop_rx.clone();
        let stopped = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        aisbf_doctor::metrics::serve(m.listen, metrics, stopped)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {} for metrics: {e}", m.listen))?;
    }
    watch_runner::run(Arc::new(runner), async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await?;
    Ok(())
}
