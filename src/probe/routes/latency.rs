//! Slow cells: 3x the route's median and 3 s more, on two samples.

use super::assess::median;
use super::observe::Cell;
use crate::finding::{Code, Finding, ProbeKind, Severity};

/// The slow rule: 3× the median and at least 3 s more. One sample per cell is
/// noisy (a node's first request to a rotation builds its handler, ~1.5 s on
/// 0.99.92), so a cell must be slow on a second sample too.
fn is_slow(latency_ms: u64, median_ms: u64) -> bool {
    latency_ms > median_ms.saturating_mul(3) && latency_ms.saturating_sub(median_ms) >= 3000
}

/// The answered cells whose latency says how fast the node reaches the
/// provider: a cell whose `id` another node repeats may be a response-cache
/// hit (milliseconds), which would make the one real completion look slow.
fn timed<'a>(ok: &[&'a Cell]) -> Vec<&'a Cell> {
    ok.iter()
        .copied()
        .filter(|c| {
            c.id.as_ref()
                .is_none_or(|id| ok.iter().filter(|o| o.id.as_ref() == Some(id)).count() == 1)
        })
        .collect()
}

/// Median latency and the timed cells of one route, with at least 3 of them.
fn route_timing<'a>(cells: &'a [Cell], route: &str) -> Option<(u64, Vec<&'a Cell>)> {
    let ok: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.route == route && !c.is_balancer && c.result.is_ok())
        .collect();
    let timed = timed(&ok);
    if timed.len() < 3 {
        return None;
    }
    Some((median(timed.iter().map(|c| c.latency_ms).collect()), timed))
}

/// Pure: indices of the cells slow on the first pass; they get a second
/// timed request before any warning.
pub fn slow_candidates(cells: &[Cell]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for c in cells {
        if seen.contains(&c.route.as_str()) {
            continue;
        }
        seen.push(&c.route);
        let Some((med, timed)) = route_timing(cells, &c.route) else {
            continue;
        };
        for t in timed {
            if is_slow(t.latency_ms, med)
                && let Some(i) = cells.iter().position(|x| std::ptr::eq(x, t))
            {
                out.push(i);
            }
        }
    }
    out
}

/// Cells slow on both samples: the fastest of the two is still slow.
pub(super) fn slow_nodes(route: &str, cells: &[Cell]) -> Vec<Finding> {
    let Some((med, timed)) = route_timing(cells, route) else {
        return Vec::new();
    };
    timed
        .into_iter()
        .filter_map(|c| {
            let second = c.second_latency_ms?;
            let best = c.latency_ms.min(second);
            (is_slow(c.latency_ms, med) && is_slow(best, med)).then(|| {
                Finding::new(
                    ProbeKind::Routes,
                    Severity::Warn,
                    &c.target,
                    Code::RouteSlowOnNode,
                    format!(
                        "{route} takes {best} ms here at best (two samples: {} ms, then {second} ms), median {med} ms",
                        c.latency_ms
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::routes::assess;
    use crate::probe::routes::fixtures::*;

    #[test]
    fn node_slow_on_both_samples_is_a_latency_warning() {
        let first = [
            timed_cell("a", 100, None),
            timed_cell("b", 100, None),
            timed_cell("c", 4000, None),
        ];
        assert_eq!(slow_candidates(&first), vec![2]);
        let f = assess(&[
            timed_cell("a", 100, None),
            timed_cell("b", 100, None),
            timed_cell("c", 4000, Some(3900)),
        ]);
        assert!(codes(&f).contains(&("c".into(), Code::RouteSlowOnNode)));
        let msg = &f
            .iter()
            .find(|x| x.code == Code::RouteSlowOnNode)
            .expect("slow")
            .message;
        assert!(msg.contains("3900 ms here at best"), "{msg}");
    }

    #[test]
    fn cold_first_request_then_fast_second_is_no_latency_warning() {
        let f = assess(&[
            timed_cell("a", 100, None),
            timed_cell("b", 100, None),
            timed_cell("c", 4000, Some(120)),
        ]);
        assert!(
            !codes(&f).iter().any(|(_, c)| *c == Code::RouteSlowOnNode),
            "{f:#?}"
        );
        // Without a second sample there is no warning either.
        let f = assess(&[
            timed_cell("a", 100, None),
            timed_cell("b", 100, None),
            timed_cell("c", 4000, None),
        ]);
        assert!(
            !codes(&f).iter().any(|(_, c)| *c == Code::RouteSlowOnNode),
            "{f:#?}"
        );
    }

    #[test]
    fn response_cache_hits_are_not_timed_against_the_real_completion() {
        // a paid the completion (4 s); b, c and d answered a's stored body.
        let mut cells: Vec<Cell> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| with_id(n, "x"))
            .collect();
        cells[0].latency_ms = 4000;
        for c in &mut cells[1..] {
            c.latency_ms = 5;
        }
        assert!(slow_candidates(&cells).is_empty());
    }
}
