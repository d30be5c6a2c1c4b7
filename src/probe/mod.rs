//! Probe modules, one per playbook step, and the registry that describes them.
//!
//! A probe observes and reports [`Finding`]s; it never decides the verdict.
//! The registry is a closed enum ([`ProbeKind`]) and one [`ProbeSpec`] per
//! variant ([`spec`]): the CLI's probe argument, the chat command tree and its
//! parser, `diagnose`'s probe list and the metrics all read it, so adding a
//! probe means its module, its variant and spec here, and its finding codes'
//! rows in `verdict::rules` (see docs/adding-a-probe.md).

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::finding::Finding;
use crate::probe::context::ProbeContext;
use crate::verdict::Layer;

pub mod cache;
pub mod context;
pub mod db;
pub mod health;
pub mod lb;
pub mod node_files;
pub mod partial;
pub mod routes;
pub mod target;
pub mod token;

/// The probe modules, one per playbook step. The CLI argument, the serde
/// name (config, store, JSON) and the chat subcommand are the snake_case name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    strum::EnumIter,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ProbeKind {
    /// Every node answers, and they agree with each other.
    Health,
    /// The shared database: reachability, migration level, users and tokens.
    Db,
    /// The Redis cache: reachability, prefixes, key census.
    Cache,
    /// The user token on every endpoint it should work on.
    Token,
    /// The smoke route matrix: route × node chat completions.
    Routes,
    /// The load balancer compared with the nodes behind it.
    Lb,
    /// Each node's aisbf.json and session_secret.key against the cluster and the other nodes.
    Files,
}

impl ProbeKind {
    /// Every probe, in the order `diagnose` runs them when no symptom reorders them.
    pub const ALL: [ProbeKind; 7] = [
        ProbeKind::Health,
        ProbeKind::Db,
        ProbeKind::Cache,
        ProbeKind::Files,
        ProbeKind::Token,
        ProbeKind::Routes,
        ProbeKind::Lb,
    ];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind named `name` (`health`, `db`, …), if any.
    pub fn parse(name: &str) -> Option<ProbeKind> {
        name.parse().ok()
    }

    pub fn spec(self) -> &'static ProbeSpec {
        spec(self)
    }
}

/// The one option a chat command of a probe may take: which configured target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOption {
    /// `node:<name>`: one node of `[[cluster.nodes]]`.
    Node,
    /// `route:<name>`: one route of `[routes] smoke`.
    Route,
}

impl TargetOption {
    /// The option's name in chat (`node`, `route`).
    pub fn name(self) -> &'static str {
        match self {
            TargetOption::Node => "node",
            TargetOption::Route => "route",
        }
    }

    pub fn about(self) -> &'static str {
        match self {
            TargetOption::Node => "Only this configured node",
            TargetOption::Route => "Only this configured route",
        }
    }
}

/// A config section a probe cannot run without.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{needs}")]
pub struct NotConfigured {
    /// What is missing, as the config spells it (e.g. "[database] url").
    pub needs: String,
}

impl NotConfigured {
    pub fn needs(what: impl Into<String>) -> NotConfigured {
        NotConfigured { needs: what.into() }
    }
}

/// Everything the rest of the program knows about one probe.
pub struct ProbeSpec {
    pub kind: ProbeKind,
    /// One line for chat command descriptions and help (at most 100 characters).
    pub about: &'static str,
    /// The chat option that narrows the probe to one configured target.
    pub target: Option<TargetOption>,
    /// Sends billed requests (chat completions): chat needs an ops role.
    pub paid: bool,
    /// The layers this probe's findings can blame.
    pub indicts: &'static [Layer],
    /// The layers this probe is the first to look at: `diagnose` runs it
    /// early when a symptom suspects one of them.
    pub first_look_at: &'static [Layer],
    /// The module that observes.
    pub probe: &'static dyn Probe,
}

impl ProbeSpec {
    /// `Err(what is missing)` when the config lacks what this probe needs.
    pub fn requires(&self, config: &Config) -> Result<(), NotConfigured> {
        self.probe.requires(config)
    }

    pub fn name(&self) -> &'static str {
        self.kind.as_str()
    }
}

/// What a probe module does: check its config, then observe.
pub trait Probe: Send + Sync {
    /// `Err(what is missing)` when the config lacks what this probe needs.
    fn requires(&self, config: &Config) -> Result<(), NotConfigured>;

    /// Runs the probe. Must not panic; every problem met is a finding.
    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>>;
}

/// The registry: one row per probe.
static SPECS: [ProbeSpec; 7] = [
    ProbeSpec {
        kind: ProbeKind::Health,
        about: "Ask every node (or one) how it is",
        target: Some(TargetOption::Node),
        paid: false,
        indicts: &[Layer::Node, Layer::Auth, Layer::Route],
        first_look_at: &[Layer::Node],
        probe: &health::HealthProbe,
    },
    ProbeSpec {
        kind: ProbeKind::Db,
        about: "Do the nodes share one database?",
        target: None,
        paid: false,
        indicts: &[Layer::Database, Layer::Auth, Layer::Route],
        first_look_at: &[Layer::Database],
        probe: &db::DbProbe,
    },
    ProbeSpec {
        kind: ProbeKind::Cache,
        about: "Is the shared Redis cache consistent?",
        target: None,
        paid: false,
        indicts: &[Layer::Cache],
        first_look_at: &[Layer::Cache],
        probe: &cache::CacheProbe,
    },
    ProbeSpec {
        kind: ProbeKind::Token,
        about: "Does the token work the same on every node?",
        target: None,
        paid: false,
        indicts: &[Layer::Auth, Layer::Node, Layer::Balancer],
        first_look_at: &[Layer::Auth],
        probe: &token::TokenProbe,
    },
    ProbeSpec {
        kind: ProbeKind::Routes,
        about: "Smoke-test routes",
        target: Some(TargetOption::Route),
        paid: true,
        indicts: &[Layer::Route, Layer::Provider, Layer::Node, Layer::Cache],
        first_look_at: &[Layer::Route, Layer::Provider],
        probe: &routes::RoutesProbe,
    },
    ProbeSpec {
        kind: ProbeKind::Lb,
        about: "Does the balancer spread over healthy nodes?",
        target: None,
        paid: false,
        indicts: &[Layer::Balancer, Layer::Node, Layer::Auth],
        first_look_at: &[Layer::Balancer],
        probe: &lb::LbProbe,
    },
    ProbeSpec {
        kind: ProbeKind::Files,
        about: "Do the nodes' aisbf.json and session keys agree?",
        target: None,
        paid: false,
        indicts: &[Layer::Node, Layer::Database, Layer::Cache, Layer::Auth],
        first_look_at: &[],
        probe: &node_files::NodeFilesProbe,
    },
];

/// The spec of a kind.
pub fn spec(kind: ProbeKind) -> &'static ProbeSpec {
    // SPECS is in enum order; the test below keeps it so.
    &SPECS[kind as usize]
}

/// Every spec, in enum order (the order of chat commands and CLI help).
pub fn specs() -> &'static [ProbeSpec] {
    &SPECS
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_kind_has_its_own_spec_row() {
        for kind in ProbeKind::iter() {
            assert_eq!(spec(kind).kind, kind);
        }
        assert_eq!(ProbeKind::iter().count(), SPECS.len());
        assert_eq!(ProbeKind::ALL.len(), SPECS.len());
    }

    #[test]
    fn probe_names_round_trip_through_parse() {
        for kind in ProbeKind::iter() {
            assert_eq!(ProbeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ProbeKind::parse("nope"), None);
    }

    #[test]
    fn abouts_fit_a_chat_command_description() {
        for s in specs() {
            let described = crate::app::request::describe(s);
            assert!(described.chars().count() <= 100, "{described}");
        }
    }
}
