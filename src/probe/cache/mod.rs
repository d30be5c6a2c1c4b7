//! The Redis cache (`check cache`): reachability, memory, prefixes and a key census.
//!
//! The census walks the keyspace with SCAN (never KEYS) in bounded batches
//! under a time budget and keeps only counters, so memory stays flat however
//! many keys there are. Prefix checks are pure functions over config and the
//! nodes' aisbf.json files.
//!
//! The parts: `connect` (a classified connection), `observe` (the I/O of one
//! check), `server` (INFO: memory and eviction), `clients` (which nodes are
//! connected), `census` (the SCAN walk) and `prefixes` (overlaps and the
//! nodes' aisbf.json).

use futures::future::BoxFuture;

use crate::aisbf_json;
use crate::config::Config;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::probe::NotConfigured;
use crate::probe::context::ProbeContext;

mod census;
mod clients;
mod connect;
mod observe;
mod prefixes;
mod server;

use clients::node_addresses;
use observe::observe_and_assess;

pub use census::{
    CENSUS_BUDGET, Census, KeyClass, SCAN_COUNT, census, census_findings, classify_key,
};
pub use clients::{client_ips, connection_findings, distinct_addresses};
pub use connect::{CacheFailure, connect, connect_within, db_index};
pub use prefixes::{compare_nodes, prefix_findings};
pub use server::{NEAR_FULL_PERCENT, ServerFacts, parse_info, server_findings};

pub struct CacheProbe;

impl super::Probe for CacheProbe {
    fn requires(&self, config: &Config) -> Result<(), NotConfigured> {
        config
            .cache
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| NotConfigured::needs("a [cache] section with url and prefixes"))
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let Some(cache) = &ctx.config.cache else {
                return Vec::new();
            };
            let budget = ctx.http.budget();
            let mut findings = prefix_findings(cache);
            let node_data = aisbf_json::load_nodes(ctx.nodes());
            findings.extend(compare_nodes(cache, &node_data));
            let urls: Vec<(String, url::Url)> = ctx
                .nodes()
                .iter()
                .map(|n| (n.name.clone(), n.url.clone()))
                .collect();
            let addresses = node_addresses(&urls, budget.timeout()).await;
            let census_budget = CENSUS_BUDGET.min(ctx.remaining() / 2);
            findings.extend(observe_and_assess(cache, budget, census_budget, &addresses).await);
            findings
        })
    }
}

fn finding(sev: Severity, subject: &str, code: Code, message: String) -> Finding {
    Finding::new(ProbeKind::Cache, sev, subject, code, message)
}

/// A `[cache]` section for the unit tests.
#[cfg(test)]
fn test_cache(prefix: &str, response: &str, others: &[(&str, &str)]) -> crate::config::Cache {
    use crate::config::{Cache, OtherEnvironment};
    use crate::secret::Secret;
    Cache {
        url: Secret::new("redis://127.0.0.1:6379/0"),
        prefix: prefix.into(),
        response_prefix: response.into(),
        other_environments: others
            .iter()
            .map(|(n, p)| OtherEnvironment {
                name: (*n).into(),
                prefix: (*p).into(),
            })
            .collect(),
    }
}
