//! `completions` and `man`: shell completions and man pages generated from
//! the same clap definition the binary parses with, so they cannot drift.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, unknown};

/// Writes the completion script for `shell` to stdout.
pub(super) fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    // Into memory first: clap_complete panics on a failed write, and a
    // closed pipe (`| head`) is no reason to panic.
    let mut script: Vec<u8> = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut script);
    write_stdout(&script);
    ExitCode::SUCCESS
}

/// Writes `aisbf-doctor.1` to stdout, or with `dir` one page per command
/// there (`aisbf-doctor-check.1`, ...), as clap_mangen lays them out.
pub(super) fn man(dir: Option<&Path>) -> ExitCode {
    let cmd = Cli::command();
    if let Some(dir) = dir {
        return match clap_mangen::generate_to(cmd, dir) {
            Ok(()) => {
                eprintln!("aisbf-doctor: man pages written to {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => unknown(format!("cannot write man pages to {}: {e}", dir.display())),
        };
    }
    let mut page: Vec<u8> = Vec::new();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut page) {
        return unknown(format!("cannot render the man page: {e}"));
    }
    write_stdout(&page);
    ExitCode::SUCCESS
}

fn write_stdout(bytes: &[u8]) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(bytes);
}
