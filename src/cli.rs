//! Command line: parse arguments, load config, call the engine, render, exit code.
//!
//! Exit codes follow the Nagios plugin convention: 0 ok, 1 warn, 2 fail,
//! 3 unknown (config or internal error).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::engine::{self, Report, Scope};
use crate::finding::{ProbeKind, Severity};
use crate::render::{self, Format};
use crate::verdict::Symptom;

#[derive(Debug, Parser)]
#[command(
    name = "aisbf-doctor",
    version,
    about = "Diagnoses multi-node AISBF clusters"
)]
pub struct Cli {
    /// Config file.
    #[arg(long, global = true, env = "AISBF_DOCTOR_CONFIG", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one probe against the configured cluster.
    Check {
        #[arg(value_enum)]
        probe: ProbeArg,
        /// Only these nodes (repeatable; must be configured).
        #[arg(long = "node", value_name = "NAME")]
        nodes: Vec<String>,
        /// Only these smoke routes (repeatable; must be configured).
        #[arg(long = "route", value_name = "NAME")]
        routes: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also write a PNG bar chart of per-node latencies (health probe).
        #[arg(long, value_name = "FILE")]
        chart: Option<PathBuf>,
    },
    /// Run every probe the config allows and give one verdict.
    Diagnose {
        /// What users report; orders the checks and is echoed in the verdict.
        #[arg(long, value_parser = parse_symptom, value_name = "SYMPTOM")]
        symptom: Option<Symptom>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show the incident memory: incidents and open follow-ups.
    Incidents {
        #[command(subcommand)]
        what: Option<IncidentsCommand>,
    },
    /// Run the `[watch]` probes on a schedule and print one line per change
    /// of state (new failure, escalation, recovery, follow-up reminder).
    Watch {
        /// One scheduled run, then exit (for cron).
        #[arg(long)]
        once: bool,
    },
    /// Redis cache maintenance (`cache flush` is the only command that writes).
    Cache {
        #[command(subcommand)]
        what: CacheCommand,
    },
    /// Run the Discord bot (`[discord] mode`: gateway or http).
    Serve,
    /// Discord housekeeping.
    Discord {
        #[command(subcommand)]
        what: DiscordCommand,
    },
    /// Exit 0 when the bot's own health endpoint answers 2xx, else 1 (for a
    /// container HEALTHCHECK; needs no config and no curl).
    Healthcheck {
        #[arg(long, env = "AISBF_DOCTOR_HEALTHCHECK_URL", default_value = DEFAULT_HEALTHCHECK_URL)]
        url: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Start a 3-node fake AISBF cluster in-process (one node drifted) and diagnose it.
    Demo {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also write a PNG bar chart of the demo nodes' latencies.
        #[arg(long, value_name = "FILE")]
        chart: Option<PathBuf>,
    },
}

fn parse_symptom(s: &str) -> Result<Symptom, String> {
    Symptom::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Symptom::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown symptom {s:?}; one of: {}", all.join(", "))
    })
}

#[derive(Debug, Subcommand)]
pub enum DiscordCommand {
    /// Register the `/aisbf` command tree (only when it changed).
    Register {
        /// Register in this guild (instant updates) instead of globally.
        #[arg(long, value_name = "ID")]
        guild: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Delete every key under one of this cluster's declared prefixes
    /// (SCAN + UNLINK in batches; never FLUSHDB/FLUSHALL).
    Flush {
        /// Exactly `[cache] prefix` or `response_prefix` from the config.
        #[arg(long)]
        prefix: String,
        /// Do not count first nor ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Keys per SCAN call and per UNLINK.
        #[arg(long, default_value_t = crate::flush::DEFAULT_BATCH)]
        batch: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// Recent incidents and every open follow-up (the default).
    List {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One incident with its follow-ups.
    Show { id: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeArg {
    Health,
    Db,
    Cache,
    Token,
    Routes,
    Lb,
    /// Each node's aisbf.json and session_secret.key against the cluster and the other nodes.
    Files,
}

impl From<ProbeArg> for ProbeKind {
    fn from(p: ProbeArg) -> Self {
        match p {
            ProbeArg::Health => ProbeKind::Health,
            ProbeArg::Db => ProbeKind::Db,
            ProbeArg::Cache => ProbeKind::Cache,
            ProbeArg::Token => ProbeKind::Token,
            ProbeArg::Routes => ProbeKind::Routes,
            ProbeArg::Lb => ProbeKind::Lb,
            ProbeArg::Files => ProbeKind::Files,
        }
    }
}

/// The Nagios exit code for a report.
pub fn exit_code(status: Severity) -> u8 {
    match status {
        Severity::Ok => 0,
        Severity::Warn => 1,
        Severity::Fail => 2,
        Severity::Unknown => EXIT_UNKNOWN,
    }
}

pub const EXIT_UNKNOWN: u8 = 3;

/// Where `serve` answers `/healthz` by default.
pub const DEFAULT_HEALTHCHECK_URL: &str = "http://127.0.0.1:8080/healthz";

fn unknown(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("aisbf-doctor: {message}");
    ExitCode::from(EXIT_UNKNOWN)
}

fn color_for(format: Format) -> bool {
    format == Format::Text
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

fn print_report(report: &Report, format: Format) {
    out(render::render(report, format, color_for(format)).trim_end());
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Demo { format, chart } => demo(format, chart).await,
        Command::Watch { once } => match config::load(&cli.config) {
            Ok(config) => watch(config, once).await,
            Err(e) => unknown(format!("config error: {e}")),
        },
        Command::Serve => match config::load(&cli.config) {
            Ok(config) => serve(config).await,
            Err(e) => unknown(format!("config error: {e}")),
        },
        Command::Discord { what } => match config::load(&cli.config) {
            Ok(config) => discord(config, what).await,
            Err(e) => unknown(format!("config error: {e}")),
        },
        Command::Healthcheck { url, timeout_ms } => healthcheck(&url, timeout_ms).await,
        Command::Incidents { what } => {
            let config = match config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => return unknown(format!("config error: {e}")),
            };
            incidents(
                &config,
                what.unwrap_or(IncidentsCommand::List { limit: 20 }),
            )
            .await
        }
        Command::Cache {
            what: CacheCommand::Flush { prefix, yes, batch },
        } => {
            let config = match config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => return unknown(format!("config error: {e}")),
            };
            cache_flush(&config, &prefix, yes, batch).await
        }
        Command::Diagnose { symptom, format } => {
            let config = match config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => return unknown(format!("config error: {e}")),
            };
            let kinds = engine::diagnose_kinds(&config, symptom);
            let scope = Scope {
                symptom,
                ..Scope::default()
            };
            check(config, &kinds, scope, format, None).await
        }
        Command::Check {
            probe,
            nodes,
            routes,
            format,
            chart,
        } => {
            let config = match config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => return unknown(format!("config error: {e}")),
            };
            let scope = Scope {
                nodes,
                routes,
                symptom: None,
            };
            check(config, &[probe.into()], scope, format, chart).await
        }
    }
}

/// The store the config names, or the default SQLite file.
pub fn store_url(config: &Config) -> crate::secret::Secret {
    config
        .store
        .as_ref()
        .map(|s| s.url.clone())
        .unwrap_or_else(|| crate::secret::Secret::new(crate::store::DEFAULT_URL))
}

async fn incidents(config: &Config, what: IncidentsCommand) -> ExitCode {
    let store = match crate::store::Store::open(&store_url(config)).await {
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

fn write_chart(report: &Report, path: &std::path::Path) -> Result<(), String> {
    match render::chart::latency_png(report)? {
        Some(png) => std::fs::write(path, png).map_err(|e| e.to_string()),
        None => Err("no node latency was measured".into()),
    }
}

/// Records a CLI run when the config has a `[store]` section; a store that
/// cannot be written never costs the operator the verdict.
async fn record(config: &Config, kinds: &[ProbeKind], report: &Report) {
    let Some(sc) = &config.store else {
        return;
    };
    let result = async {
        let store = crate::store::Store::open(&sc.url).await?;
        let id = store.start_run(&config.cluster.name, "cli", kinds).await?;
        store.finish_run(id, report).await?;
        let cluster = &config.cluster.name;
        store.repair_follow_ups(cluster, report).await?;
        Ok::<_, crate::store::StoreError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %config.redactor().scrub(&e.to_string()), "run not recorded");
    }
}

async fn check(
    config: Config,
    kinds: &[ProbeKind],
    scope: Scope,
    format: Format,
    chart: Option<PathBuf>,
) -> ExitCode {
    if let Err(e) = engine::validate_scope(&config, &scope) {
        return unknown(e);
    }
    for kind in kinds {
        if let Err(needs) = crate::probe::for_kind(*kind).requires(&config) {
            return unknown(format!(
                "check {}: needs {needs} in the config",
                kind.as_str()
            ));
        }
    }
    let config = Arc::new(config);
    match engine::run(config.clone(), kinds, scope).await {
        Ok(report) => {
            record(&config, kinds, &report).await;
            // The verdict is printed whatever happens to the chart: the probes
            // already ran, and their answer keeps its exit code.
            print_report(&report, format);
            if let Some(path) = chart
                && let Err(e) = write_chart(&report, &path)
            {
                eprintln!(
                    "aisbf-doctor: cannot write chart {}: {e} (the verdict above stands)",
                    path.display()
                );
            }
            ExitCode::from(exit_code(report.status))
        }
        Err(e) => unknown(format!("internal error: {e}")),
    }
}

/// GETs `url` once; 0 on 2xx, 1 on anything else (Docker's convention).
async fn healthcheck(url: &str, timeout_ms: u64) -> ExitCode {
    let url = match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        _ => return unknown(format!("healthcheck: invalid URL {url:?}")),
    };
    let http = match crate::http::Http::new(std::time::Duration::from_millis(timeout_ms.max(1))) {
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

async fn demo(format: Format, chart: Option<PathBuf>) -> ExitCode {
    match crate::demo::run().await {
        Ok(report) => {
            if let Some(path) = chart
                && let Err(e) = write_chart(&report, &path)
            {
                return unknown(format!("cannot write chart {}: {e}", path.display()));
            }
            print_report(&report, format);
            if format == Format::Text {
                out("");
                out(crate::demo::EXPLANATION);
            }
            // The demo succeeded if it ran; its cluster is drifted on purpose.
            ExitCode::SUCCESS
        }
        Err(e) => unknown(format!("demo failed: {e}")),
    }
}

async fn serve(config: Config) -> ExitCode {
    if config.discord.is_none() {
        return unknown("serve needs a [discord] section in the config");
    }
    let redactor = config.redactor();
    let url = store_url(&config);
    match crate::discord::serve(Arc::new(config), &url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => unknown(redactor.scrub(&format!("serve failed: {e}"))),
    }
}

async fn discord(config: Config, what: DiscordCommand) -> ExitCode {
    let Some(d) = &config.discord else {
        return unknown("discord commands need a [discord] section in the config");
    };
    let redactor = config.redactor();
    match what {
        DiscordCommand::Register { guild } => {
            let rest =
                match crate::discord::Rest::new(&d.api_base, d.token.clone(), d.application_id) {
                    Ok(r) => r,
                    Err(e) => return unknown(e),
                };
            let scope = guild.map_or("globally".to_string(), |g| format!("in guild {g}"));
            match crate::discord::commands::register(&rest, guild).await {
                Ok(crate::discord::commands::Registered::Unchanged) => {
                    out(&format!("/aisbf commands already up to date {scope}"));
                    ExitCode::SUCCESS
                }
                Ok(crate::discord::commands::Registered::Updated) => {
                    out(&format!("/aisbf commands registered {scope}"));
                    ExitCode::SUCCESS
                }
                Err(e) => unknown(redactor.scrub(&e.to_string())),
            }
        }
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

async fn watch(config: Config, once: bool) -> ExitCode {
    use crate::watch_runner::{self, Runner, StdoutAnnouncer};
    if config.watch.is_none() {
        return unknown("watch needs a [watch] section in the config");
    }
    let redactor = config.redactor();
    let store = match crate::store::Store::open(&store_url(&config)).await {
        Ok(s) => s,
        Err(e) => return unknown(redactor.scrub(&e.to_string())),
    };
    let metrics = crate::metrics::Metrics::new();
    let announcer = Arc::new(StdoutAnnouncer::default());
    let config = Arc::new(config);
    if once {
        let runner = match Runner::new(config, store, announcer, metrics).await {
            Ok(r) => r,
            Err(e) => return unknown(e),
        };
        let result = runner.tick().await;
        runner.release().await;
        return match result {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => unknown(e),
        };
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    if let Some(m) = &config.metrics
        && let Err(e) =
            crate::metrics::serve(m.listen, metrics.clone(), stopped(stop_rx.clone())).await
    {
        return unknown(format!("cannot listen on {} for metrics: {e}", m.listen));
    }
    let result = watch_runner::run(config, store, announcer, metrics, async move {
        terminated().await;
        let _ = stop_tx.send(true);
    })
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => unknown(e),
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

async fn cache_flush(config: &Config, prefix: &str, yes: bool, batch: usize) -> ExitCode {
    let Some(cache) = &config.cache else {
        return unknown("cache flush: needs a [cache] section in the config");
    };
    if let Err(refusal) = crate::flush::check_prefix(cache, prefix) {
        return unknown(format!("cache flush: {refusal}"));
    }
    let redactor = config.redactor();
    let timeout = std::time::Duration::from_millis(config.cluster.timeout_ms);
    let mut con = match crate::probe::cache::connect(&cache.url, timeout).await {
        Ok(c) => c,
        Err(f) => return unknown(redactor.scrub(&format!("cache flush: {}", f.message()))),
    };
    let batch = batch.clamp(1, 100_000);
    let db = crate::probe::cache::db_index(cache.url.expose());
    // Counting is one more pass over the keyspace: only done when someone is asked.
    if !yes {
        let matching = match crate::flush::count(&mut con, prefix, batch).await {
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
    match crate::flush::flush(&mut con, prefix, batch).await {
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
