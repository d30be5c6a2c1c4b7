//! Watch mode's memory of what was announced: a pure state machine.
//!
//! `serve` runs the probes every `[watch] every`; a change of state is posted
//! only after it held for `confirm` consecutive runs (flapping is damped), and
//! each change is announced once: a new failure, an escalation or change of
//! culprit, a recovery.

use serde::{Deserialize, Serialize};

use crate::engine::Report;
use crate::finding::Severity;
use crate::verdict::Layer;

/// What a run says about the cluster, reduced to what an announcement is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub status: Severity,
    pub layer: Layer,
    pub culprits: Vec<String>,
}

impl Condition {
    pub fn healthy() -> Self {
        Self {
            status: Severity::Ok,
            layer: Layer::None,
            culprits: Vec::new(),
        }
    }

    pub fn of(report: &Report) -> Self {
        let mut culprits = report.verdict.culprits.clone();
        culprits.sort();
        Self {
            status: report.status,
            layer: report.verdict.layer,
            culprits,
        }
    }

    fn is_ok(&self) -> bool {
        self.status == Severity::Ok
    }
}

/// What to post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Healthy before, failing or warning now: open an incident.
    NewFailure,
    /// Still broken, but worse or somewhere else: post into the incident.
    Escalation,
    /// Broken before, healthy now: post the summary and close the incident.
    Recovery,
}

/// The announced condition and the one waiting for confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchState {
    pub announced: Condition,
    pub pending: Option<(Condition, u32)>,
    /// The newest outbox row (announcement intent) this state includes; a
    /// newer row means the state write after it was lost, and that row's
    /// target is the state (see `store::outbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_id: Option<i64>,
}

impl Default for WatchState {
    fn default() -> Self {
        Self {
            announced: Condition::healthy(),
            pending: None,
            outbox_id: None,
        }
    }
}

impl WatchState {
    /// Feeds one run's condition; returns the change to announce, if any.
    pub fn step(&mut self, observed: Condition, confirm: u32) -> Option<Change> {
        // A run the doctor could not finish says nothing about the cluster:
        // it neither opens an incident nor closes one.
        if observed.status == Severity::Unknown {
            return None;
        }
        if observed == self.announced {
            self.pending = None;
            return None;
        }
        let seen = match &self.pending {
            Some((c, n)) if *c == observed => n + 1,
            _ => 1,
        };
        if seen < confirm.max(1) {
            self.pending = Some((observed, seen));
            return None;
        }
        let change = match (self.announced.is_ok(), observed.is_ok()) {
            (true, false) => Change::NewFailure,
            (false, true) => Change::Recovery,
            _ => Change::Escalation,
        };
        self.announced = observed;
        self.pending = None;
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(culprit: &str) -> Condition {
        Condition {
            status: Severity::Fail,
            layer: Layer::Node,
            culprits: vec![culprit.into()],
        }
    }

    #[test]
    fn a_run_the_doctor_could_not_finish_neither_opens_nor_closes_an_incident() {
        let unknown = Condition {
            status: Severity::Unknown,
            layer: Layer::None,
            culprits: Vec::new(),
        };
        let mut healthy = WatchState::default();
        assert_eq!(healthy.step(unknown.clone(), 1), None);
        assert_eq!(healthy, WatchState::default());
        let failing = Condition {
            status: Severity::Fail,
            layer: Layer::Node,
            culprits: vec!["aisbf-2".into()],
        };
        let mut broken = WatchState::default();
        assert_eq!(broken.step(failing.clone(), 1), Some(Change::NewFailure));
        assert_eq!(broken.step(unknown, 1), None);
        assert_eq!(broken.announced, failing);
    }

    #[test]
    fn a_failure_is_announced_after_it_held_for_confirm_runs() {
        let mut s = WatchState::default();
        assert_eq!(s.step(failing("b"), 2), None);
        assert_eq!(s.step(failing("b"), 2), Some(Change::NewFailure));
        assert_eq!(s.step(failing("b"), 2), None, "announced once");
    }

    #[test]
    fn flapping_is_damped() {
        let mut s = WatchState::default();
        for _ in 0..5 {
            assert_eq!(s.step(failing("b"), 2), None);
            assert_eq!(s.step(Condition::healthy(), 2), None);
        }
    }

    #[test]
    fn recovery_is_announced_once() {
        let mut s = WatchState::default();
        s.step(failing("b"), 1);
        assert_eq!(s.step(Condition::healthy(), 2), None);
        assert_eq!(s.step(Condition::healthy(), 2), Some(Change::Recovery));
        assert_eq!(s.step(Condition::healthy(), 2), None);
    }

    #[test]
    fn a_new_culprit_is_an_escalation() {
        let mut s = WatchState::default();
        s.step(failing("b"), 1);
        assert_eq!(s.step(failing("c"), 1), Some(Change::Escalation));
    }
}
