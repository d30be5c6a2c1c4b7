//! Reports the renderer tests share: fixed findings and a fixed elapsed time,
//! so every rendering of them is the same on every run.

use aisbf_doctor::engine::Report;
use aisbf_doctor::finding::{Code, Finding, ProbeKind, Severity};

pub fn f(sev: Severity, subject: &str, code: Code, msg: &str) -> Finding {
    Finding::new(ProbeKind::Health, sev, subject, code, msg)
}

pub fn healthy() -> Report {
    Report::from_findings(
        "prod",
        vec![
            f(Severity::Ok, "aisbf-1", Code::NodeOk, "up, 0.99.92, 12 ms"),
            f(Severity::Ok, "aisbf-2", Code::NodeOk, "up, 0.99.92, 15 ms"),
            f(Severity::Ok, "aisbf-3", Code::NodeOk, "up, 0.99.92, 11 ms"),
        ],
        None,
        42,
    )
}

pub fn drifted() -> Report {
    Report::from_findings(
        "prod",
        vec![
            f(Severity::Ok, "aisbf-1", Code::NodeOk, "up, 0.99.92, 12 ms"),
            f(Severity::Ok, "aisbf-2", Code::NodeOk, "up, 0.99.92, 15 ms"),
            f(
                Severity::Fail,
                "aisbf-3",
                Code::TokenRejectedOnNode,
                "rejects the user token the other nodes accept (Bearer sk-leaked-secret-value); @everyone look",
            ),
        ],
        None,
        57,
    )
}

pub fn many_nodes() -> Report {
    let findings = (1..=40)
        .map(|i| {
            f(
                if i % 7 == 0 {
                    Severity::Fail
                } else {
                    Severity::Ok
                },
                &format!("aisbf-{i:02}"),
                if i % 7 == 0 {
                    Code::TokenRejectedOnNode
                } else {
                    Code::NodeOk
                },
                &format!("node {i} answered {}", "x".repeat(180)),
            )
        })
        .collect();
    Report::from_findings("big", findings, None, 900)
}

/// A run whose probes could not say: a node that timed out mid-answer and a
/// probe cut by the deadline.
pub fn unknown() -> Report {
    Report::from_findings(
        "prod",
        vec![
            f(Severity::Ok, "aisbf-1", Code::NodeOk, "up, 0.99.92, 12 ms"),
            Finding::new(
                ProbeKind::Routes,
                Severity::Unknown,
                "routes",
                Code::ProbeDeadline,
                "did not finish before the 10 s deadline",
            ),
        ],
        None,
        10_000,
    )
}
