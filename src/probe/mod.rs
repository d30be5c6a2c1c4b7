//! Probe modules, one per playbook step, behind one small trait.
//!
//! A probe observes and reports [`Finding`]s; it never decides the verdict.
//! The registry is a closed enum ([`ProbeKind`]): [`for_kind`] maps each kind to
//! its module.

use futures::future::BoxFuture;

use crate::config::Config;
use crate::finding::{Finding, ProbeKind};
use crate::probe::context::ProbeContext;

pub mod cache;
pub mod context;
pub mod db;
pub mod health;
pub mod lb;
pub mod node_files;
pub mod routes;
pub mod target;
pub mod token;

/// One playbook step.
pub trait Probe: Send + Sync {
    fn kind(&self) -> ProbeKind;

    /// `Err(what is missing)` when the config lacks what this probe needs.
    fn requires(&self, config: &Config) -> Result<(), String>;

    /// Runs the probe. Must not panic; every problem met is a finding.
    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>>;
}

/// The probe module for a kind.
pub fn for_kind(kind: ProbeKind) -> Box<dyn Probe> {
    match kind {
        ProbeKind::Health => Box::new(health::HealthProbe),
        ProbeKind::Token => Box::new(token::TokenProbe),
        ProbeKind::Routes => Box::new(routes::RoutesProbe),
        ProbeKind::Lb => Box::new(lb::LbProbe),
        ProbeKind::Db => Box::new(db::DbProbe),
        ProbeKind::Cache => Box::new(cache::CacheProbe),
        ProbeKind::Files => Box::new(node_files::NodeFilesProbe),
    }
}
