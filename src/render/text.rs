//! Terminal text: one line per subject with a mark, then the verdict.

use std::fmt::Write;

use crate::engine::Report;
use crate::finding::Severity;
use crate::render::{by_subject, words};

fn mark(sev: Severity, color: bool) -> &'static str {
    match (sev, color) {
        (Severity::Ok, false) => "[ ok ]",
        (Severity::Warn, false) => "[warn]",
        (Severity::Unknown, false) => "[ ?? ]",
        (Severity::Fail, false) => "[FAIL]",
        (Severity::Ok, true) => "[\x1b[32m ok \x1b[0m]",
        (Severity::Warn, true) => "[\x1b[33mwarn\x1b[0m]",
        (Severity::Unknown, true) => "[\x1b[35m ?? \x1b[0m]",
        (Severity::Fail, true) => "[\x1b[31mFAIL\x1b[0m]",
    }
}

pub fn render(report: &Report, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "aisbf-doctor: cluster {}", report.cluster);
    let groups = by_subject(report);
    let width = groups
        .iter()
        .map(|(s, _)| s.chars().count())
        .max()
        .unwrap_or(0);
    for (subject, findings) in groups {
        let worst = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        // Worst first, so the line leads with what matters.
        let mut sorted = findings.clone();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let messages: Vec<&str> = sorted.iter().map(|f| f.message.as_str()).collect();
        let _ = writeln!(
            out,
            "{} {subject:<width$}  {}",
            mark(worst, color),
            messages.join("; ")
        );
    }
    let v = &report.verdict;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "verdict: {} (layer {}, action {})",
        report.status.as_str().to_uppercase(),
        words(v.layer),
        words(v.action)
    );
    if !v.culprits.is_empty() {
        let _ = writeln!(out, "culprits: {}", v.culprits.join(", "));
    }
    let _ = writeln!(out, "summary: {}", v.summary);
    let _ = writeln!(out, "first check: {}", v.first_check);
    let _ = writeln!(out, "({} ms)", report.elapsed_ms);
    out
}
