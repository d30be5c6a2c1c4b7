//! What a verdict names: the broken [`Layer`] and the [`Action`] that fixes it.

use serde::{Deserialize, Serialize};

/// The broken layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Layer {
    None,
    Node,
    Database,
    Cache,
    Auth,
    Balancer,
    Route,
    Provider,
}

/// What the operator should change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    None,
    /// Nodes disagree, prefixes collide, auth differs per node: repair the cluster.
    EditInfrastructure,
    /// A provider is down, slow, expensive or wrong for the workload: change routes.
    EditRoutes,
    /// The token itself is wrong for every node.
    FixCredentials,
}
