//! Command line: parse arguments, load config, call the engine, render, exit code.
//!
//! Exit codes follow the Nagios plugin convention: 0 ok, 1 warn, 2 fail,
//! 3 unknown (config or internal error).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use aisbf_doctor::config::{self, Config};

mod config_cmd;
mod generate;
mod ops;
mod probes;
mod serve;

use aisbf_doctor::engine::{self, Report, Scope};
use aisbf_doctor::finding::{ProbeKind, Severity};
use aisbf_doctor::render::{self, Format};
use aisbf_doctor::verdict::Symptom;
use ops::{cache_flush, discord, healthcheck, incidents};
use probes::{check, demo};
use serve::{serve, watch};

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
        probe: ProbeKind,
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
    /// Run the Discord bot (`[discord] mode`: gateway or http) and/or the Slack app (`[slack] mode`: socket or http).
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
    /// Check the config without probing anything, or write a starter config.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a folder.
    Man {
        /// Write aisbf-doctor.1, aisbf-doctor-check.1, ... into this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and that every `${VAR}` it names is set; probes
    /// nothing. Exit 0 when valid, 3 otherwise (like `nginx -t`).
    Check,
    /// Print a starter config built from the nodes' own aisbf.json files
    /// (database, cache prefixes, node names from the paths); secrets are
    /// `${VAR}` references, never copied.
    Init {
        /// A node's aisbf.json (repeatable; the node is named after its folder).
        #[arg(long = "aisbf-json", value_name = "PATH", required = true, num_args = 1..)]
        aisbf_json: Vec<PathBuf>,
        /// Write the starter here instead of stdout (never over an existing file).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
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
        #[arg(long, default_value_t = aisbf_doctor::flush::DEFAULT_BATCH)]
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

/// Prints an error (scrubbed of every configured secret) and exits unknown.
fn unknown(message: impl std::fmt::Display) -> ExitCode {
    let message = aisbf_doctor::secret::scrub_everywhere(&message.to_string());
    eprintln!("aisbf-doctor: {message}");
    ExitCode::from(EXIT_UNKNOWN)
}

/// Loads the config and makes its secrets the ones every log line and error
/// message of this process is scrubbed of.
fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    match config::load(path) {
        Ok(config) => {
            aisbf_doctor::secret::set_process_redactor(config.redactor());
            Ok(config)
        }
        Err(e) => Err(unknown(format!("config error: {e}"))),
    }
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
        Command::Config {
            what: ConfigCommand::Check,
        } => config_cmd::config_check(&cli.config),
        Command::Config {
            what: ConfigCommand::Init { aisbf_json, output },
        } => config_cmd::config_init(&aisbf_json, output.as_deref()),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { dir } => generate::man(dir.as_deref()),
        Command::Watch { once } => match load(&cli.config) {
            Ok(config) => watch(config, once).await,
            Err(code) => code,
        },
        Command::Serve => match load(&cli.config) {
            Ok(config) => serve(config).await,
            Err(code) => code,
        },
        Command::Discord { what } => match load(&cli.config) {
            Ok(config) => discord(config, what).await,
            Err(code) => code,
        },
        Command::Healthcheck { url, timeout_ms } => healthcheck(&url, timeout_ms).await,
        Command::Incidents { what } => {
            let config = match load(&cli.config) {
                Ok(c) => c,
                Err(code) => return code,
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
            let config = match load(&cli.config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            cache_flush(&config, &prefix, yes, batch).await
        }
        Command::Diagnose { symptom, format } => {
            let config = match load(&cli.config) {
                Ok(c) => c,
                Err(code) => return code,
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
            let config = match load(&cli.config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let scope = Scope {
                nodes,
                routes,
                symptom: None,
            };
            check(config, &[probe], scope, format, chart).await
        }
    }
}

/// The store the config names, or the default SQLite file.
pub fn store_url(config: &Config) -> aisbf_doctor::secret::Secret {
    config
        .store
        .as_ref()
        .map(|s| s.url.clone())
        .unwrap_or_else(|| aisbf_doctor::secret::Secret::new(aisbf_doctor::store::DEFAULT_URL))
}
