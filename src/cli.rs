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
    },
    /// Run every probe the config allows and give one verdict.
    Diagnose {
        /// What users report; orders the checks and is echoed in the verdict.
        #[arg(long, value_parser = parse_symptom, value_name = "SYMPTOM")]
        symptom: Option<Symptom>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Start a 3-node fake AISBF cluster in-process (one node drifted) and diagnose it.
    Demo {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

fn parse_symptom(s: &str) -> Result<Symptom, String> {
    Symptom::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Symptom::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown symptom {s:?}; one of: {}", all.join(", "))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeArg {
    Health,
    Db,
    Cache,
    Token,
    Routes,
    Lb,
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
        }
    }
}

/// The Nagios exit code for a report.
pub fn exit_code(status: Severity) -> u8 {
    match status {
        Severity::Ok => 0,
        Severity::Warn => 1,
        Severity::Fail => 2,
    }
}

pub const EXIT_UNKNOWN: u8 = 3;

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
        Command::Demo { format } => demo(format).await,
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
            check(config, &kinds, scope, format).await
        }
        Command::Check {
            probe,
            nodes,
            routes,
            format,
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
            check(config, &[probe.into()], scope, format).await
        }
    }
}

async fn check(config: Config, kinds: &[ProbeKind], scope: Scope, format: Format) -> ExitCode {
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
    match engine::run(Arc::new(config), kinds, scope).await {
        Ok(report) => {
            print_report(&report, format);
            ExitCode::from(exit_code(report.status))
        }
        Err(e) => unknown(format!("internal error: {e}")),
    }
}

async fn demo(format: Format) -> ExitCode {
    match crate::demo::run().await {
        Ok(report) => {
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
