//! Pure renderers: a [`Report`](crate::engine::Report) in, text out.

pub mod chart;
pub mod incidents;
pub mod markdown;
pub mod text;

use crate::engine::Report;

/// Output formats of the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// The public JSON contract: exactly one document.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| {
        format!(
            "{{\"cluster\":\"\",\"status\":\"fail\",\"error\":\"cannot serialise report: {e}\"}}"
        )
    })
}

/// Renders the report in `format`; `color` only applies to text.
pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Text => text::render(report, color),
        Format::Json => json(report),
        Format::Markdown => markdown::render(report),
    }
}

/// Findings grouped by subject, in first-seen order, for line-per-subject views.
pub(crate) fn by_subject(report: &Report) -> Vec<(&str, Vec<&crate::finding::Finding>)> {
    let mut groups: Vec<(&str, Vec<&crate::finding::Finding>)> = Vec::new();
    for f in &report.findings {
        match groups.iter_mut().find(|(s, _)| *s == f.subject) {
            Some((_, v)) => v.push(f),
            None => groups.push((f.subject.as_str(), vec![f])),
        }
    }
    groups
}

/// `edit_infrastructure` → "edit infrastructure".
pub(crate) fn words(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}
