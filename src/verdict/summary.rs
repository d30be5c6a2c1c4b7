//! The words of a verdict: the summary line for a culprit, and the verdicts
//! that name none (healthy, unknown, explained away).

use std::collections::HashSet;

use super::cross::Reading;
use super::rules::{Tier, judgement};
use super::{Action, Layer, Symptom, Verdict};
use crate::finding::{Code, Finding, Severity};

pub(super) fn healthy(findings: &[Finding], symptom: Option<Symptom>) -> Verdict {
    let checked = findings.len();
    let mut summary = format!("No problem found ({checked} checks ok).");
    if let Some(s) = symptom {
        summary.push_str(&format!(
            " Symptom \"{}\" is not explained by what the doctor can see; check the client's base URL, route name and token.",
            s.as_str()
        ));
    }
    Verdict {
        layer: Layer::None,
        action: Action::None,
        culprits: Vec::new(),
        summary,
        first_check: "Nothing to fix.".into(),
    }
}

/// Nothing could be judged: the doctor's own error, or no check ran. Never a
/// cluster culprit.
pub(super) fn unknown(findings: &[Finding], symptom: Option<Symptom>) -> Verdict {
    let reasons: Vec<&str> = findings
        .iter()
        .filter(|f| f.severity == Severity::Unknown)
        .map(|f| f.message.as_str())
        .take(3)
        .collect();
    let mut summary = if reasons.is_empty() {
        "Unknown: no check ran, so nothing can be said about the cluster.".to_string()
    } else {
        format!(
            "Unknown: the doctor could not finish ({}); this says nothing about the cluster.",
            reasons.join("; ")
        )
    };
    if let Some(s) = symptom {
        summary = format!("Symptom \"{}\": {summary}", s.as_str());
    }
    let first_check = match findings.iter().find(|f| f.severity == Severity::Unknown) {
        Some(f) => (judgement(f.code).0.first_check)(&f.subject),
        None => "Check the scope of the run: which nodes and probes it was asked for".into(),
    };
    Verdict {
        layer: Layer::None,
        action: Action::None,
        culprits: Vec::new(),
        summary,
        first_check,
    }
}

/// Problems were seen but every one was explained away by another probe.
pub(super) fn unexplained(
    findings: &[Finding],
    worst: Severity,
    symptom: Option<Symptom>,
) -> Verdict {
    let n = findings.iter().filter(|f| f.severity == worst).count();
    let mut v = healthy(findings, symptom);
    v.summary = format!(
        "{n} finding(s) at {} level, none of which points at a layer on its own; read the findings.",
        worst.as_str()
    );
    v.first_check = "Read the findings one by one".into();
    v
}

pub(super) fn summarize(
    top: &Finding,
    reading: Reading,
    culprits: &[String],
    deciding: &[(&Finding, Reading)],
    findings: &[Finding],
    symptom: Option<Symptom>,
) -> String {
    let who = crate::finding::name_few(culprits, 5, "more");
    let mut s = match (reading.tier, reading.layer) {
        (Tier::Performance, _) => format!(
            "Slow: {who} ({}). Nothing is failing; compare load and upstream latency.",
            top.message
        ),
        (Tier::Incomplete, _) => format!("Incomplete: {}.", top.message),
        (_, Layer::Node) => format!("The failure follows the node: {who} ({}).", top.message),
        (_, Layer::Auth) if reading.action == Action::FixCredentials => {
            format!("The failure follows the token: {}", top.message)
        }
        (_, Layer::Auth) => format!(
            "Auth differs per node: {who} ({}). Its database or auth config differs from the other nodes'.",
            top.message
        ),
        (_, Layer::Database)
            if matches!(top.code, Code::TokenRejected | Code::TokenRejectedOnNode) =>
        {
            format!(
                "The token exists and is active in the shared database, yet it is rejected ({}): {who}: the nodes are not reading the shared database. This is not a bad token.",
                top.message
            )
        }
        (_, Layer::Database) => {
            format!("The failure follows the database: {who} ({}).", top.message)
        }
        (_, Layer::Cache) => format!("The failure follows the cache: {who} ({}).", top.message),
        (_, Layer::Balancer) => format!(
            "The failure follows the load balancer: {who} ({}).",
            top.message
        ),
        (_, Layer::Route) => format!("The failure follows the route: {who} ({}).", top.message),
        (_, Layer::Provider) => {
            format!("The failure follows the provider: {who} ({}).", top.message)
        }
        (_, Layer::None) => top.message.clone(),
    };
    if reading.action == Action::EditInfrastructure
        && reading.tier < Tier::Relayed
        && matches!(
            reading.layer,
            Layer::Node | Layer::Auth | Layer::Database | Layer::Cache
        )
    {
        s.push_str(&format!(
            " Fix {who} before touching route policy; routing around it would mask drift."
        ));
    }
    let culprit_set: HashSet<&str> = culprits.iter().map(String::as_str).collect();
    let others = deciding
        .iter()
        .filter(|(f, r)| r.layer != reading.layer && !culprit_set.contains(f.subject.as_str()))
        .count();
    if others > 0 {
        s.push_str(&format!(
            " ({others} other finding(s) of the same severity follow.)"
        ));
    }
    let unknown = findings
        .iter()
        .filter(|f| f.severity == Severity::Unknown)
        .count();
    if unknown > 0 {
        s.push_str(&format!(
            " ({unknown} check(s) could not be completed by the doctor.)"
        ));
    }
    if let Some(sym) = symptom {
        s = format!("Symptom \"{}\": {s}", sym.as_str());
    }
    s
}
