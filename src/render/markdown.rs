//! Markdown, for tickets and chat: the verdict first, then a findings table.

use std::fmt::Write;

use crate::engine::Report;
use crate::finding::Severity;
use crate::render::words;

fn emoji(sev: Severity) -> &'static str {
    match sev {
        Severity::Ok => "✅",
        Severity::Warn => "⚠️",
        Severity::Unknown => "❔",
        Severity::Fail => "❌",
    }
}

/// Escapes characters that would break a table cell or start markup.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
        .replace('`', "'")
}

pub fn render(report: &Report) -> String {
    let v = &report.verdict;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} aisbf-doctor: {} is {}",
        emoji(report.status),
        cell(&report.cluster),
        report.status.as_str()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "- **Layer:** {}", words(v.layer));
    let _ = writeln!(out, "- **Action:** {}", words(v.action));
    if !v.culprits.is_empty() {
        let _ = writeln!(out, "- **Culprits:** {}", cell(&v.culprits.join(", ")));
    }
    let _ = writeln!(out, "- **Summary:** {}", cell(&v.summary));
    let _ = writeln!(out, "- **First check:** {}", cell(&v.first_check));
    let _ = writeln!(out);
    let _ = writeln!(out, "| | probe | subject | code | message |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for f in &report.findings {
        let _ = writeln!(
            out,
            "| {} | {} | {} | `{}` | {} |",
            emoji(f.severity),
            f.probe.as_str(),
            cell(&f.subject),
            f.code.as_str(),
            cell(&f.message)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "_{} ms_", report.elapsed_ms);
    out
}
