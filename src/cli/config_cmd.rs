//! `config check` (validate without probing, like `nginx -t`) and `config
//! init` (a starter config from the nodes' aisbf.json files).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{EXIT_UNKNOWN, out, unknown};
use aisbf_doctor::config::starter;
use aisbf_doctor::engine;

/// Validates the config and that every `${VAR}` it names is set; probes nothing.
pub(super) fn config_check(path: &Path) -> ExitCode {
    match starter::check_file(path) {
        Ok(config) => {
            let kinds: Vec<&str> = engine::diagnose_kinds(&config, None)
                .iter()
                .map(|k| k.as_str())
                .collect();
            out(&format!(
                "config ok: {} (cluster {}, {} nodes; diagnose runs {})",
                path.display(),
                config.cluster.name,
                config.cluster.nodes.len(),
                kinds.join(", ")
            ));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                // Problems name keys and variables, never values.
                eprintln!("aisbf-doctor: config error: {e}");
            }
            ExitCode::from(EXIT_UNKNOWN)
        }
    }
}

/// Prints (or writes to `output`, never over an existing file) a starter
/// config built from the given aisbf.json files.
pub(super) fn config_init(paths: &[PathBuf], output: Option<&Path>) -> ExitCode {
    let names = starter::unique_names(paths);
    let mut nodes = Vec::with_capacity(paths.len());
    for (name, path) in names.into_iter().zip(paths) {
        match aisbf_doctor::aisbf_json::load_config(path) {
            Ok(config) => nodes.push((name, absolute(path), config)),
            Err(e) => return unknown(format!("config init: {e}")),
        }
    }
    let text = starter::starter(&nodes);
    match output {
        None => {
            out(text.trim_end());
            ExitCode::SUCCESS
        }
        Some(file) => {
            use std::io::Write;
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(file)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            match written {
                Ok(()) => {
                    eprintln!("aisbf-doctor: wrote {}", file.display());
                    ExitCode::SUCCESS
                }
                Err(e) => unknown(format!("config init: cannot write {}: {e}", file.display())),
            }
        }
    }
}

/// The path as the doctor will later read it, whatever its working directory.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
