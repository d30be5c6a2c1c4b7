//! `check`, `diagnose` and `demo`: run probes once, print the verdict, exit
//! with its Nagios code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::{exit_code, out, print_report, unknown};
use aisbf_doctor::config::Config;
use aisbf_doctor::engine::{self, Report, Scope};
use aisbf_doctor::finding::ProbeKind;
use aisbf_doctor::render::{self, Format};

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
        let store = aisbf_doctor::store::Store::open(&sc.url).await?;
        let id = store.start_run(&config.cluster.name, "cli", kinds).await?;
        store.finish_run(id, report).await?;
        let cluster = &config.cluster.name;
        store.repair_follow_ups(cluster, report).await?;
        Ok::<_, aisbf_doctor::store::StoreError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %config.redactor().scrub(&e.to_string()), "run not recorded");
    }
}

pub(super) async fn check(
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
        if let Err(needs) = kind.spec().requires(&config) {
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

/// The demo: the verdict, then (text only, so JSON and Markdown stay one
/// document on stdout) a preview of the Discord message and where the
/// latency chart was written. A `--chart` that cannot be written is an
/// error; the default temp file is best effort.
pub(super) async fn demo(format: Format, chart: Option<PathBuf>) -> ExitCode {
    use aisbf_doctor::demo::{self, preview};
    let report = match demo::run().await {
        Ok(report) => report,
        Err(e) => return unknown(format!("demo failed: {e}")),
    };
    let asked = chart.is_some();
    let chart_path = chart.or_else(|| (format == Format::Text).then(demo::default_chart_path));
    let mut chart_note = None;
    if let Some(path) = &chart_path {
        match write_chart(&report, path) {
            Ok(()) => chart_note = Some(format!("latency chart written to {}", path.display())),
            Err(e) if asked => {
                return unknown(format!("cannot write chart {}: {e}", path.display()));
            }
            Err(e) => {
                chart_note = Some(format!(
                    "latency chart not written ({}): {e}",
                    path.display()
                ))
            }
        }
    }
    print_report(&report, format);
    if format == Format::Text {
        let png = render::chart::latency_png(&report).ok().flatten();
        let shown = preview::build(&report, &demo::redactor(), png);
        out("");
        out(preview::render(&shown).trim_end());
        if let Some(note) = &chart_note {
            out("");
            out(note);
        }
        out("");
        out(demo::EXPLANATION);
    } else if let Some(note) = &chart_note {
        eprintln!("aisbf-doctor: {note}");
    }
    // The demo succeeded if it ran; its cluster is drifted on purpose.
    ExitCode::SUCCESS
}
