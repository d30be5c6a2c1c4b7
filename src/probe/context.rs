//! What a probe may use: the config, the one HTTP client, the scope of the
//! run and its deadline. Probes depend on this, never on the engine that runs
//! them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::http::Http;
use crate::verdict::Symptom;

/// What a run was asked to look at.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only these nodes (empty: all configured nodes). Names are validated against config.
    pub nodes: Vec<String>,
    /// Only these smoke routes (empty: all configured routes).
    pub routes: Vec<String>,
    pub symptom: Option<Symptom>,
}

/// Everything a probe may use. Probes read config and call out through `http`;
/// they never print.
pub struct ProbeContext {
    pub config: Arc<Config>,
    pub http: Http,
    pub scope: Scope,
    /// When the whole run must be over.
    pub deadline: Instant,
}

impl ProbeContext {
    /// The configured nodes this run covers.
    pub fn nodes(&self) -> Vec<&crate::config::Node> {
        self.config
            .cluster
            .nodes
            .iter()
            .filter(|n| self.scope.nodes.is_empty() || self.scope.nodes.contains(&n.name))
            .collect()
    }

    /// How much of the overall deadline is left.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}
