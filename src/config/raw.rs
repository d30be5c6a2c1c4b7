//! The config as written in TOML: serde shapes with their defaults, before any
//! check. Unknown keys are refused here (`deny_unknown_fields`); what a value
//! must be is [`super::validate`]'s business.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::discord::RawDiscord;
use super::duration;
use super::slack::RawSlack;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) cluster: RawCluster,
    pub(super) database: Option<RawDatabase>,
    pub(super) cache: Option<RawCache>,
    pub(super) routes: Option<RawRoutes>,
    pub(super) lb: Option<RawLb>,
    pub(super) store: Option<RawStore>,
    pub(super) discord: Option<RawDiscord>,
    pub(super) slack: Option<RawSlack>,
    pub(super) watch: Option<RawWatch>,
    pub(super) metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    #[serde(default = "default_every", deserialize_with = "duration::deserialize")]
    pub(super) every: Duration,
    #[serde(default = "default_watch_probes")]
    pub(super) probes: Vec<String>,
    #[serde(default = "default_confirm")]
    pub(super) confirm: u32,
    #[serde(
        default = "default_lease_ttl",
        deserialize_with = "duration::deserialize"
    )]
    pub(super) lease_ttl: Duration,
    pub(super) redis_url: Option<String>,
    #[serde(
        default = "default_remind_every",
        deserialize_with = "duration::deserialize"
    )]
    pub(super) remind_every: Duration,
}

pub(super) fn default_every() -> Duration {
    Duration::from_secs(60)
}
pub(super) fn default_watch_probes() -> Vec<String> {
    vec!["health".into()]
}
pub(super) fn default_confirm() -> u32 {
    2
}
pub(super) fn default_lease_ttl() -> Duration {
    Duration::from_secs(15)
}
pub(super) fn default_remind_every() -> Duration {
    Duration::from_secs(24 * 60 * 60)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLb {
    #[serde(default = "default_lb_requests")]
    pub(super) requests: usize,
}

pub(super) fn default_lb_requests() -> usize {
    12
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub(super) name: String,
    pub(super) user: String,
    pub(super) token: String,
    pub(super) global_token: Option<String>,
    pub(super) balancer: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub(super) timeout_ms: u64,
    pub(super) deadline_ms: Option<u64>,
    #[serde(default = "default_concurrency")]
    pub(super) concurrency: usize,
    /// A dashboard login for the session cross-check of `check files`.
    pub(super) dashboard_user: Option<String>,
    pub(super) dashboard_password: Option<String>,
    pub(super) nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) name: String,
    pub(super) url: String,
    pub(super) aisbf_json: Option<PathBuf>,
    #[serde(default)]
    pub(super) tls_insecure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub(super) url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCache {
    pub(super) url: String,
    #[serde(default = "default_cache_prefix")]
    pub(super) prefix: String,
    #[serde(default = "default_response_prefix")]
    pub(super) response_prefix: String,
    #[serde(default)]
    pub(super) other_environments: Vec<RawOtherEnvironment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOtherEnvironment {
    pub(super) name: String,
    pub(super) prefix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoutes {
    #[serde(default)]
    pub(super) smoke: Vec<String>,
    #[serde(default = "default_prompt")]
    pub(super) prompt: String,
    #[serde(default = "default_route_concurrency")]
    pub(super) concurrency: usize,
}

pub(super) fn default_timeout_ms() -> u64 {
    5000
}
/// Nodes probed at once. Sized so 1,000 nodes answering in 200 ms finish in
/// about 1 s (see the fan-out benchmark in README).
pub(super) fn default_concurrency() -> usize {
    256
}
pub(super) fn default_cache_prefix() -> String {
    "aisbf:".into()
}
pub(super) fn default_response_prefix() -> String {
    "aisbf:response:".into()
}
pub(super) fn default_prompt() -> String {
    "smoke".into()
}
pub(super) fn default_route_concurrency() -> usize {
    8
}
