//! Latency outliers: a node 3x slower than the median node (and a second more)
//! on two samples. One cold first request must not make a healthy node an
//! outlier.

use super::assess::node_reachability;
use super::observe::NodeObservation;
use crate::finding::{Code, Finding, ProbeKind, Severity};

/// The node's latency: its slowest answered request of the pass.
pub(super) fn max_latency(o: &NodeObservation) -> Option<u64> {
    [
        Some(&o.root),
        Some(&o.health),
        o.version.as_ref(),
        Some(&o.models),
        Some(&o.providers),
    ]
    .into_iter()
    .flatten()
    .filter_map(|r| r.as_ref().ok().map(|a| a.latency_ms))
    .max()
}

/// The outlier rule: 3× the median node and at least a second more (sub-second
/// jitter on a busy Python node is not worth a warning).
fn is_outlier(latency_ms: u64, median_ms: u64) -> bool {
    latency_ms > median_ms.saturating_mul(3) && latency_ms.saturating_sub(median_ms) >= 1000
}

/// Median of the answering nodes' first-pass latencies, and those latencies.
fn first_pass<'a>(answering: &[&'a NodeObservation]) -> Option<(u64, Vec<(&'a str, u64)>)> {
    if answering.len() < 3 {
        return None;
    }
    let mut lat: Vec<(&str, u64)> = answering
        .iter()
        .filter_map(|o| max_latency(o).map(|l| (o.name.as_str(), l)))
        .collect();
    lat.sort_by_key(|(_, l)| *l);
    let median = lat.get(lat.len() / 2)?.1;
    Some((median, lat))
}

/// Pure: the nodes the first pass makes look like outliers; they get a second
/// sample before anything is said about them.
pub fn outlier_candidates(obs: &[NodeObservation]) -> Vec<String> {
    let answering: Vec<&NodeObservation> = obs
        .iter()
        .filter(|o| node_reachability(o).is_none())
        .collect();
    let Some((median, lat)) = first_pass(&answering) else {
        return Vec::new();
    };
    lat.into_iter()
        .filter(|(_, l)| is_outlier(*l, median))
        .map(|(n, _)| n.to_string())
        .collect()
}

/// A node that is an outlier on both samples: its fastest sample is still 3×
/// the median node and a second more. Without a second sample, no warning.
pub(super) fn latency_outliers(answering: &[&NodeObservation], findings: &mut Vec<Finding>) {
    let Some((median, lat)) = first_pass(answering) else {
        return;
    };
    let second_of: std::collections::HashMap<&str, u64> = answering
        .iter()
        .filter_map(|o| o.second_latency_ms.map(|l| (o.name.as_str(), l)))
        .collect();
    for (name, first) in lat {
        let Some(&second) = second_of.get(name) else {
            continue;
        };
        let best = first.min(second);
        if is_outlier(first, median) && is_outlier(best, median) {
            findings.push(Finding::new(
                ProbeKind::Health,
                Severity::Warn,
                name,
                Code::LatencyOutlier,
                format!(
                    "answers in {best} ms at best (two samples: {first} ms, then {second} ms) while the median node answers in {median} ms"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Answer, Body, Outcome};
    use crate::probe::health::assess;
    use crate::probe::health::fixtures::*;

    fn slow_root(latency_ms: u64) -> Outcome {
        Ok(Answer {
            status: 200,
            latency_ms,
            body: root().map(|a| a.body).unwrap_or(Body::Text(String::new())),
        })
    }

    #[test]
    fn node_slow_on_both_samples_is_a_latency_outlier() {
        let mut c = healthy("c");
        c.root = slow_root(1500);
        let first = [healthy("a"), healthy("b"), c.clone()];
        assert_eq!(outlier_candidates(&first), vec!["c".to_string()]);
        c.second_latency_ms = Some(1400);
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        assert_eq!(
            codes_for(&f, "c"),
            vec![Code::HealthAuthGated, Code::LatencyOutlier]
        );
        let msg = &f
            .iter()
            .find(|x| x.code == Code::LatencyOutlier)
            .expect("outlier")
            .message;
        assert!(msg.contains("1400 ms at best"), "{msg}");
    }

    #[test]
    fn cold_first_request_then_fast_second_is_no_warning() {
        let mut c = healthy("c");
        c.root = slow_root(1500);
        c.second_latency_ms = Some(12);
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        assert_all_ok(&f, "c");
    }

    #[test]
    fn one_slow_sample_without_a_second_is_no_warning() {
        let mut c = healthy("c");
        c.root = slow_root(1500);
        let f = assess(&[healthy("a"), healthy("b"), c], false);
        assert!(!f.iter().any(|x| x.code == Code::LatencyOutlier), "{f:#?}");
    }

    #[test]
    fn fast_nodes_get_no_second_sample() {
        let mut c = healthy("c");
        c.root = slow_root(900);
        assert!(outlier_candidates(&[healthy("a"), healthy("b"), c]).is_empty());
    }
}
