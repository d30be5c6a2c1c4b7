//! Nodes that disagree with the others: global config keys, AISBF versions
//! and clocks. The majority is the reference; with no strict majority every
//! node is named.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use super::observe::NodeObservation;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::Answer;

pub(super) fn compare_global_config(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let keyed: Vec<(&str, GlobalKeys)> = answering
        .iter()
        .filter_map(|o| {
            o.root
                .as_ref()
                .ok()
                .map(|a| (o.name.as_str(), global_keys(a)))
        })
        .collect();
    for (name, keys, majority) in odd_ones_out(&keyed) {
        let msg = match majority {
            Some(m) => format!(
                "global config differs from the majority: {}",
                describe_key_diff(keys, m)
            ),
            None => "global config keys differ between nodes and no majority exists".to_string(),
        };
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Fail,
            name,
            Code::GlobalConfigDiffers,
            msg,
        ));
    }
}

/// The node's global providers, rotations and autoselect keys from `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
struct GlobalKeys {
    providers: BTreeSet<String>,
    rotations: BTreeSet<String>,
    autoselect: BTreeSet<String>,
}

fn global_keys(a: &Answer) -> GlobalKeys {
    let body = a.body.json();
    let set = |key: &str| -> BTreeSet<String> {
        match body.as_ref().and_then(|v| v.get(key)) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect(),
            Some(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => BTreeSet::new(),
        }
    };
    GlobalKeys {
        providers: set("providers"),
        rotations: set("rotations"),
        autoselect: set("autoselect"),
    }
}

fn describe_key_diff(mine: &GlobalKeys, majority: &GlobalKeys) -> String {
    let mut parts = Vec::new();
    for (label, a, b) in [
        ("providers", &mine.providers, &majority.providers),
        ("rotations", &mine.rotations, &majority.rotations),
        ("autoselect", &mine.autoselect, &majority.autoselect),
    ] {
        if let Some(d) = set_diff(a, b) {
            parts.push(format!("{label} {d}"));
        }
    }
    parts.join("; ")
}

/// "missing [..], extra [..]" of `mine` against `majority`, or None when equal.
pub(super) fn set_diff(mine: &BTreeSet<String>, majority: &BTreeSet<String>) -> Option<String> {
    let missing: Vec<&str> = majority
        .difference(mine)
        .map(String::as_str)
        .take(10)
        .collect();
    let extra: Vec<&str> = mine
        .difference(majority)
        .map(String::as_str)
        .take(10)
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing [{}]", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("extra [{}]", extra.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

pub(super) fn version_of(o: &NodeObservation) -> Option<String> {
    match &o.version {
        Some(Ok(a)) if a.status == 200 => a
            .body
            .field("version")
            .and_then(|v| v.as_str().map(str::to_string)),
        _ => None,
    }
}

pub(super) fn compare_versions(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let versions: Vec<(&str, String)> = answering
        .iter()
        .filter_map(|o| version_of(o).map(|v| (o.name.as_str(), v)))
        .collect();
    for (name, v, majority) in odd_ones_out(&versions) {
        let msg = match majority {
            Some(m) => format!("runs AISBF {v} while the majority runs {m}"),
            None => format!("runs AISBF {v}; nodes run different versions and no majority exists"),
        };
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Warn,
            name,
            Code::VersionDrift,
            msg,
        ));
    }
}

/// Clocks further apart than this break signed dashboard sessions between
/// nodes (itsdangerous refuses a signature from the future) and confuse logs.
const CLOCK_SKEW_S: i64 = 60;

/// A node whose clock is off from the median node's by more than a minute.
/// Comparing nodes with each other (not with ours) keeps the doctor's own
/// clock out of it.
pub(super) fn clock_skew(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let mut offsets: Vec<(&str, i64)> = answering
        .iter()
        .filter_map(|o| o.clock_offset_s.map(|d| (o.name.as_str(), d)))
        .collect();
    if offsets.len() < 2 {
        return;
    }
    let mut sorted: Vec<i64> = offsets.iter().map(|(_, d)| *d).collect();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    offsets.retain(|(_, d)| d.abs_diff(median) > CLOCK_SKEW_S.unsigned_abs());
    // Without a clear majority there is no "right" clock to name.
    if offsets.len() * 2 >= answering.len() {
        return;
    }
    for (name, d) in offsets {
        let off = d - median;
        let dir = if off > 0 { "ahead of" } else { "behind" };
        findings.push(Finding::new(
            ProbeKind::Health,
            Severity::Warn,
            name,
            Code::ClockSkew,
            format!(
                "its clock runs {} s {dir} the other nodes': dashboard sessions it signs are refused by them (and theirs by it) until the clocks agree",
                off.unsigned_abs()
            ),
        ));
    }
}

/// The subjects whose value differs from the majority, with the majority value
/// (`None` when there is no strict largest group: then every node is listed).
pub(super) fn odd_ones_out<'a, T: Eq + Hash + Clone>(
    items: &'a [(&'a str, T)],
) -> Vec<(&'a str, &'a T, Option<&'a T>)> {
    if items.len() < 2 {
        return Vec::new();
    }
    let mut counts: HashMap<&T, usize> = HashMap::new();
    for (_, v) in items {
        *counts.entry(v).or_default() += 1;
    }
    if counts.len() == 1 {
        return Vec::new();
    }
    let best = counts.values().copied().max().unwrap_or(0);
    let leaders: Vec<&T> = counts
        .iter()
        .filter(|(_, c)| **c == best)
        .map(|(v, _)| *v)
        .collect();
    match leaders.as_slice() {
        [majority] => items
            .iter()
            .filter(|(_, v)| v != *majority)
            .map(|(n, v)| (*n, v, Some(*majority)))
            .collect(),
        _ => items.iter().map(|(n, v)| (*n, v, None)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::health::assess;
    use crate::probe::health::fixtures::*;
    use serde_json::json;

    #[test]
    fn version_drift_and_global_config_drift_are_found() {
        let with = |name: &str, version: &str, providers: serde_json::Value| {
            let mut o = healthy(name);
            o.health = ok(200, json!({"status": "ok"}));
            o.version = Some(ok(200, json!({"version": version})));
            o.root = ok(
                200,
                json!({"message": "AI Proxy Server is running", "providers": providers, "rotations": [], "autoselect": []}),
            );
            o
        };
        let f = assess(
            &[
                with("a", "0.99.92", json!(["openai"])),
                with("b", "0.99.92", json!(["openai"])),
                with("c", "0.99.90", json!(["openai", "ollama"])),
            ],
            true,
        );
        assert_eq!(
            codes_for(&f, "c"),
            vec![Code::GlobalConfigDiffers, Code::VersionDrift]
        );
        assert!(codes_for(&f, "a").contains(&Code::NodeOk));
    }

    #[test]
    fn a_node_whose_clock_runs_minutes_ahead_is_a_clock_skew_warning() {
        let mut c = healthy("c");
        c.clock_offset_s = Some(300);
        let mut b = healthy("b");
        b.clock_offset_s = Some(2);
        let f = assess(&[healthy("a"), b, c], false);
        let skew: Vec<_> = f.iter().filter(|x| x.code == Code::ClockSkew).collect();
        assert_eq!(skew.len(), 1, "{f:#?}");
        assert_eq!(skew[0].subject, "c");
        assert!(
            skew[0].message.contains("298 s ahead"),
            "{}",
            skew[0].message
        );
    }
}
