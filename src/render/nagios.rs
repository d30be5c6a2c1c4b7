//! Nagios / Icinga / Checkmk plugin output, as the Monitoring Plugins
//! development guidelines describe it: one line of service output, `|`, the
//! performance data (`'label'=value[UOM];[warn];[crit];[min];[max]`), then
//! the long output on later lines. The exit code stays the CLI's (0/1/2/3).

use std::fmt::Write;

use crate::engine::Report;
use crate::finding::{Code, Severity};
use crate::render::{by_subject, chart, words};
use crate::verdict::{Tier, judgement};

/// The plugin state word for a status.
fn state(status: Severity) -> &'static str {
    match status {
        Severity::Ok => "OK",
        Severity::Warn => "WARNING",
        Severity::Fail => "CRITICAL",
        Severity::Unknown => "UNKNOWN",
    }
}

/// A `|` anywhere in the output starts performance data, and a line break
/// ends the service output: neither may come from a server's text.
fn plain(text: &str) -> String {
    text.replace('|', "/").replace(['\n', '\r'], " ")
}

/// A perfdata label: quoted when it holds anything but word characters, a
/// `'` inside doubled, as the guidelines say.
pub fn label(name: &str) -> String {
    let name = plain(name);
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return name;
    }
    format!("'{}'", name.replace('\'', "''"))
}

/// Nodes seen up and nodes seen down, the way the metrics count them: a
/// healthy node code, or a failing code of the "node down" tier.
fn node_counts(report: &Report) -> Option<(usize, usize)> {
    let mut up: Vec<&str> = Vec::new();
    let mut down: Vec<&str> = Vec::new();
    for f in &report.findings {
        if f.code == Code::NodeOk {
            up.push(&f.subject);
        } else if judgement(f.code).0.tier == Tier::NodeDown && f.severity == Severity::Fail {
            down.push(&f.subject);
        }
    }
    up.retain(|n| !down.contains(n));
    up.sort_unstable();
    up.dedup();
    down.sort_unstable();
    down.dedup();
    (!(up.is_empty() && down.is_empty())).then_some((up.len(), up.len() + down.len()))
}

/// The performance data: run time, nodes up, findings per severity and each
/// node's health latency.
pub fn perfdata(report: &Report) -> String {
    let mut items = vec![format!("{}={}ms;;;0", label("elapsed"), report.elapsed_ms)];
    if let Some((up, total)) = node_counts(report) {
        items.push(format!("{}={up};;;0;{total}", label("nodes_up")));
    }
    for sev in [
        Severity::Ok,
        Severity::Warn,
        Severity::Unknown,
        Severity::Fail,
    ] {
        let n = report.findings.iter().filter(|f| f.severity == sev).count();
        items.push(format!(
            "{}={n};;;0",
            label(&format!("findings_{}", sev.as_str()))
        ));
    }
    for (node, ms, _) in chart::node_latencies(report) {
        items.push(format!("{}={ms}ms;;;0", label(&format!("{node} latency"))));
    }
    items.join(" ")
}

pub fn render(report: &Report) -> String {
    let v = &report.verdict;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "AISBF {} - {} | {}",
        state(report.status),
        plain(&v.summary),
        perfdata(report)
    );
    let _ = writeln!(
        out,
        "cluster {}: layer {}, action {}",
        plain(&report.cluster),
        words(v.layer),
        words(v.action)
    );
    if !v.culprits.is_empty() {
        let _ = writeln!(out, "culprits: {}", plain(&v.culprits.join(", ")));
    }
    let _ = writeln!(out, "first check: {}", plain(&v.first_check));
    for (subject, findings) in by_subject(report) {
        let worst = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        let _ = writeln!(
            out,
            "[{}] {}: {}",
            state(worst),
            plain(subject),
            plain(&messages.join("; "))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, ProbeKind};

    fn report() -> Report {
        Report::from_findings(
            "prod",
            vec![
                Finding::new(
                    ProbeKind::Health,
                    Severity::Ok,
                    "aisbf-1",
                    Code::NodeOk,
                    "up",
                )
                .with_latency(Some(9)),
                Finding::new(
                    ProbeKind::Health,
                    Severity::Fail,
                    "aisbf-2",
                    Code::NodeUnreachable,
                    "GET / failed | refused",
                ),
            ],
            None,
            23,
        )
    }

    #[test]
    fn first_line_is_state_summary_then_perfdata() {
        let out = render(&report());
        let first = out.lines().next().unwrap_or_default();
        assert!(first.starts_with("AISBF CRITICAL - "), "{first}");
        let (_, perf) = first.split_once(" | ").expect("perfdata");
        assert_eq!(
            perf,
            "elapsed=23ms;;;0 nodes_up=1;;;0;2 findings_ok=1;;;0 findings_warn=0;;;0 \
             findings_unknown=0;;;0 findings_fail=1;;;0 'aisbf-1 latency'=9ms;;;0"
        );
    }

    #[test]
    fn only_the_first_line_has_a_pipe() {
        let out = render(&report());
        assert_eq!(out.matches('|').count(), 1, "{out}");
        assert!(
            out.contains("[CRITICAL] aisbf-2: GET / failed / refused"),
            "{out}"
        );
    }

    #[test]
    fn labels_are_quoted_when_needed_and_quotes_doubled() {
        assert_eq!(label("elapsed"), "elapsed");
        assert_eq!(label("a b"), "'a b'");
        assert_eq!(label("a=b"), "'a=b'");
        assert_eq!(label("it's"), "'it''s'");
    }
}
