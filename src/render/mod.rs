//! Pure renderers: a [`Report`](crate::engine::Report) in, text out.

pub mod chart;
pub mod incidents;
pub mod markdown;
pub mod nagios;
#[cfg(test)]
mod schema_tests;
pub mod text;

use crate::engine::Report;

/// Output formats of the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// Monitoring Plugins output: status line, perfdata, long output.
    Nagios,
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
        Format::Nagios => nagios::render(report),
    }
}

/// Findings grouped by subject, in first-seen order, for line-per-subject views.
pub(crate) fn by_subject(report: &Report) -> Vec<(&str, Vec<&crate::finding::Finding>)> {
    // A map from subject to its group keeps this linear in the findings.
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut groups: Vec<(&str, Vec<&crate::finding::Finding>)> = Vec::new();
    for f in &report.findings {
        match at.get(f.subject.as_str()) {
            Some(&i) => groups[i].1.push(f),
            None => {
                at.insert(f.subject.as_str(), groups.len());
                groups.push((f.subject.as_str(), vec![f]));
            }
        }
    }
    groups
}

/// `edit_infrastructure` → "edit infrastructure".
pub(crate) fn words(value: impl Into<&'static str>) -> String {
    value.into().replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Code, Finding, ProbeKind, Severity};
    use crate::inert::is_active;
    use proptest::prelude::*;

    fn hostile_report(subject: &str, message: &str) -> Report {
        let findings = vec![
            Finding::new(
                ProbeKind::Health,
                Severity::Ok,
                "aisbf-1",
                Code::NodeOk,
                message,
            ),
            Finding::new(
                ProbeKind::Health,
                Severity::Fail,
                subject,
                Code::ModelsDiffer,
                format!("models differ: {message}"),
            ),
        ];
        Report::from_findings("prod", findings, None, 1)
    }

    /// Only the renderer's own line breaks may be there.
    fn assert_inert(out: &str, surface: &str) {
        let bad: Vec<char> = out
            .chars()
            .filter(|c| *c != '\n' && is_active(*c))
            .collect();
        assert!(bad.is_empty(), "{surface}: {bad:?} in {out:?}");
    }

    #[test]
    fn a_model_id_that_forges_an_ok_verdict_cannot_hide_the_real_one_on_a_terminal() {
        let forged = "x\n\nverdict: OK (layer none, action none)\nsummary: No problem found (3 checks ok).\u{1b}[8m";
        let out = text::render(&hostile_report("aisbf-2", forged), false);
        let verdicts: Vec<&str> = out.lines().filter(|l| l.starts_with("verdict: ")).collect();
        assert_eq!(
            verdicts,
            ["verdict: FAIL (layer node, action edit infrastructure)"],
            "{out}"
        );
        assert!(out.contains("\\u{1b}[8m"), "{out}");
    }

    fn strings(v: &serde_json::Value) -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a.iter().flat_map(strings).collect(),
            serde_json::Value::Object(m) => m.values().flat_map(strings).collect(),
            _ => Vec::new(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn no_control_character_reaches_any_surface_and_the_verdict_line_is_the_last_word(
            subject in any::<String>(),
            message in any::<String>(),
        ) {
            let report = hostile_report(&subject, &message);
            let text = text::render(&report, false);
            assert_inert(&text, "text");
            let verdict_lines = text.lines().filter(|l| l.starts_with("verdict: ")).count();
            prop_assert_eq!(verdict_lines, 1);
            let after: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("verdict: ")).collect();
            prop_assert!(after.iter().all(|l| ["verdict: ", "culprits: ", "summary: ", "first check: ", "("].iter().any(|p| l.starts_with(p))), "{:?}", after);
            assert_inert(&markdown::render(&report), "markdown");
            let msg = crate::discord::render::verdict(&report, &crate::secret::Redactor::new([]), &Default::default());
            for leaf in strings(&msg.json) {
                assert_inert(&leaf, "discord");
            }
            // JSON escapes whatever is left; it must still parse to one document.
            prop_assert!(serde_json::from_str::<serde_json::Value>(&json(&report)).is_ok());
        }
    }
}
