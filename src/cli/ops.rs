//! The operator's housekeeping commands: the incident memory, the cache
//! flush (the only command that writes to a user's system), the container
//! healthcheck and Discord command registration.

use std::process::ExitCode;

use super::{DiscordCommand, IncidentsCommand, out, store_url, unknown};
use aisbf_doctor::config::Config;
use aisbf_doctor::render;

pub(super) async fn incidents(config: &Config, what: IncidentsCommand) -> ExitCode {
    let store = match aisbf_doctor::store::Store::open(&store_url(config)).await {
        Ok(s) => s,
        Err(e) => return unknown(config.redactor().scrub(&e.to_string())),
    };
    let text = match what {
        IncidentsCommand::List { limit } => {
            let listed = store.incidents(limit.clamp(1, 1000)).await;
            let open = store.open_follow_ups_of(None).await;
            match (listed, open) {
                (Ok(i), Ok(f)) => render::incidents::list(&i, &f),
                (Err(e), _) | (_, Err(e)) => return unknown(e),
            }
        }
        IncidentsCommand::Show { id } => match store.incident(id).await {
            Ok(Some(i)) => match store.follow_ups_of_incident(id).await {
                Ok(f) => render::incidents::show(&i, &f),
                Err(e) => return unknown(e),
            },
            Ok(None) => return unknown(format!("no incident #{id}")),
            Err(e) => return unknown(e),
        },
    };
    out(text.trim_end());
    ExitCode::SUCCESS
}

/// GETs `url` once; 0 on 2xx, 1 on anything else (Docker's convention).
pub(super) async fn healthcheck(url: &str, timeout_ms: u64) -> ExitCode {
    let url = match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        _ => return unknown(format!("healthcheck: invalid URL {url:?}")),
    };
    let http =
        match aisbf_doctor::http::Http::new(std::time::Duration::from_millis(timeout_ms.max(1))) {
            Ok(h) => h,
            Err(e) => return unknown(format!("healthcheck: {e}")),
        };
    match http.get(&url, None).await {
        Ok(a) if (200..300).contains(&a.status) => {
            out(&format!("healthy: {} answered {}", url, a.status));
            ExitCode::SUCCESS
        }
        Ok(a) => {
            out(&format!("unhealthy: {} answered {}", url, a.status));
            ExitCode::from(1)
        }
        Err(f) => {
            out(&format!("unhealthy: {}: {}", url, f.describe()));
            ExitCode::from(1)
        }
    }
}

pub(super) async fn discord(config: Config, what: DiscordCommand) -> ExitCode {
    let Some(d) = &config.discord else {
        return unknown("discord commands need a [discord] section in the config");
    };
    let redactor = config.redactor();
    match what {
        DiscordCommand::Register { guild } => {
            let rest = match aisbf_doctor::discord::Rest::new(
                &d.api_base,
                d.token.clone(),
                d.application_id,
            ) {
                Ok(r) => r,
                Err(e) => return unknown(e),
            };
            let scope = guild.map_or("globally".to_string(), |g| format!("in guild {g}"));
            match aisbf_doctor::discord::commands::register(&rest, guild).await {
                Ok(aisbf_doctor::discord::commands::Registered::Unchanged) => {
                    out(&format!("/aisbf commands already up to date {scope}"));
                    ExitCode::SUCCESS
                }
                Ok(aisbf_doctor::discord::commands::Registered::Updated) => {
                    out(&format!("/aisbf commands registered {scope}"));
                    ExitCode::SUCCESS
                }
                Err(e) => unknown(redactor.scrub(&e.to_string())),
            }
        }
    }
}

/// Asks on stderr, reads one line from stdin; only `y`/`yes` confirms.
fn confirm(question: &str) -> bool {
    use std::io::{BufRead, Write};
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => false,
        Ok(_) => matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
    }
}

pub(super) async fn cache_flush(
    config: &Config,
    prefix: &str,
    yes: bool,
    batch: usize,
) -> ExitCode {
    let Some(cache) = &config.cache else {
        return unknown("cache flush: needs a [cache] section in the config");
    };
    if let Err(refusal) = aisbf_doctor::flush::check_prefix(cache, prefix) {
        return unknown(format!("cache flush: {refusal}"));
    }
    let redactor = config.redactor();
    let timeout = std::time::Duration::from_millis(config.cluster.timeout_ms);
    let mut con = match aisbf_doctor::probe::cache::connect(&cache.url, timeout).await {
        Ok(c) => c,
        Err(f) => return unknown(redactor.scrub(&format!("cache flush: {}", f.message()))),
    };
    let batch = batch.clamp(1, 100_000);
    let db = aisbf_doctor::probe::cache::db_index(cache.url.expose());
    // Counting is one more pass over the keyspace: only done when someone is asked.
    if !yes {
        let matching = match aisbf_doctor::flush::count(&mut con, prefix, batch).await {
            Ok(n) => n,
            Err(e) => {
                return unknown(redactor.scrub(&format!("cache flush: counting failed: {e}")));
            }
        };
        if matching == 0 {
            out(&format!(
                "no keys under {prefix:?} in db {db}: nothing to delete"
            ));
            return ExitCode::SUCCESS;
        }
        if !confirm(&format!(
            "{matching} keys match {prefix:?} in db {db}. Delete them?"
        )) {
            return unknown("cache flush: not confirmed; nothing deleted");
        }
    }
    match aisbf_doctor::flush::flush(&mut con, prefix, batch).await {
        Ok(done) => {
            out(&format!(
                "deleted {} keys under {prefix:?} in db {db} in {} ms ({:.0} keys/s)",
                done.deleted,
                done.elapsed.as_millis(),
                done.rate()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => unknown(redactor.scrub(&format!("cache flush: stopped: {e}"))),
    }
}
