//! `aisbf-doctor demo`: the embedded default. Starts the fake 3-node cluster on
//! loopback (aisbf-3 silently on its own SQLite) and runs the health probe.
//! The fake AISBF node itself ([`fake_node`]) also serves the benches and the
//! fast tests.

use std::sync::Arc;

use crate::config;
use crate::engine::{self, Report, Scope};
use crate::finding::ProbeKind;

pub mod fake_node;
pub mod preview;

use fake_node::{FakeCluster, demo};

pub const EXPLANATION: &str = "This was a demo: three fake AISBF 0.99.92 nodes on loopback ports. aisbf-3 was started \
the way AISBF 0.99.92 silently starts when its MySQL pool fails: on a private SQLite file that knows no users. \
Point --config at your own cluster (see config/aisbf-doctor.example.toml) to diagnose it.";

/// Where `demo` writes its latency chart when not given `--chart`.
pub fn default_chart_path() -> std::path::PathBuf {
    std::env::temp_dir().join("aisbf-doctor-demo-latency.png")
}

/// The redactor of the demo's config: its two tokens.
pub fn redactor() -> crate::secret::Redactor {
    crate::secret::Redactor::new([
        crate::secret::Secret::new(demo::TOKEN),
        crate::secret::Secret::new(demo::GLOBAL_TOKEN),
    ])
}

pub async fn run() -> anyhow::Result<Report> {
    let cluster = FakeCluster::demo().await?;
    let text = cluster
        .config_toml("AISBF_TOKEN", Some("AISBF_GLOBAL_TOKEN"), 2000)
        .replace("name = \"fake\"", "name = \"demo\"");
    let env = |name: &str| match name {
        "AISBF_TOKEN" => Some(demo::TOKEN.to_string()),
        "AISBF_GLOBAL_TOKEN" => Some(demo::GLOBAL_TOKEN.to_string()),
        _ => None,
    };
    let config = config::parse(&text, &env)?;
    let report = engine::run(Arc::new(config), &[ProbeKind::Health], Scope::default()).await?;
    drop(cluster);
    Ok(report)
}
