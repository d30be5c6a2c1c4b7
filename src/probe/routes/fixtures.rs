//! Matrix cells for the unit tests of `check routes`.

use super::observe::Cell;
use crate::aisbf::ChatResult;
use crate::finding::{Code, Finding};
use crate::probe::target::BALANCER;

pub(super) fn cell(route: &str, target: &str, result: ChatResult) -> Cell {
    Cell {
        route: route.into(),
        target: target.into(),
        is_balancer: target == BALANCER,
        result,
        latency_ms: 100,
        id: None,
        second_latency_ms: None,
    }
}

/// An answered cell with a completion id.
pub(super) fn with_id(target: &str, id: &str) -> Cell {
    let mut c = cell("r", target, answered());
    c.id = Some(id.into());
    c
}

pub(super) fn timed_cell(target: &str, first: u64, second: Option<u64>) -> Cell {
    let mut c = cell("r", target, answered());
    c.latency_ms = first;
    c.second_latency_ms = second;
    c
}

pub(super) fn answered() -> ChatResult {
    ChatResult::Answered {
        model: "llama3".into(),
    }
}

pub(super) fn provider_down() -> ChatResult {
    ChatResult::ProviderFailed {
        status: 500,
        detail: "Connection error.".into(),
    }
}

pub(super) fn codes(f: &[Finding]) -> Vec<(String, Code)> {
    f.iter().map(|x| (x.subject.clone(), x.code)).collect()
}
