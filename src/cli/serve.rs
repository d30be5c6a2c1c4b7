//! `serve` and `watch`: the long-running commands, assembled in
//! [`crate::runtime`].

use std::process::ExitCode;
use std::sync::Arc;

use super::{store_url, unknown};
use aisbf_doctor::config::Config;

pub(super) async fn serve(config: Config) -> ExitCode {
    if config.discord.is_none() && config.slack.is_none() {
        return unknown("serve needs a [discord] or [slack] section in the config");
    }
    let redactor = config.redactor();
    let url = store_url(&config);
    match crate::runtime::serve(Arc::new(config), &url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => unknown(redactor.scrub(&format!("serve failed: {e}"))),
    }
}

pub(super) async fn watch(config: Config, once: bool) -> ExitCode {
    if config.watch.is_none() {
        return unknown("watch needs a [watch] section in the config");
    }
    let redactor = config.redactor();
    let url = store_url(&config);
    match crate::runtime::watch(Arc::new(config), &url, once, terminated()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => unknown(redactor.scrub(&e.to_string())),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
