//! The I/O of `check cache`: connect, INFO, CLIENT LIST and the census, each
//! turned into findings as soon as it is read.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::census::{census, census_findings};
use super::clients::{client_ips, connection_findings, distinct_addresses};
use super::connect::{classify, connect_within, db_index};
use super::finding;
use super::server::{ServerFacts, parse_info, server_findings};
use crate::config::Cache;
use crate::finding::{Code, Finding, Severity};
use crate::http::Budget;

/// Connects within `budget`, reads INFO (and CLIENT LIST when the node
/// addresses tell the nodes apart), then walks the keys for `census_budget`.
pub(super) async fn observe_and_assess(
    cache: &Cache,
    budget: Budget,
    census_budget: Duration,
    addresses: &[(String, BTreeSet<IpAddr>)],
) -> Vec<Finding> {
    let started = Instant::now();
    let mut con = match connect_within(&cache.url, budget).await {
        Ok(c) => c,
        Err(f) => return vec![f.finding()],
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let info = match redis::cmd("INFO").query_async::<String>(&mut con).await {
        Ok(t) => parse_info(&t),
        Err(e) => return vec![classify(&e).finding()],
    };
    let facts = ServerFacts {
        latency_ms,
        info,
        db: db_index(cache.url.expose()),
    };
    let mut out = server_findings(&facts);
    if distinct_addresses(addresses) {
        // A doctor without the CLIENT permission just skips this check.
        if let Ok(list) = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async::<String>(&mut con)
            .await
        {
            out.extend(connection_findings(addresses, &client_ips(&list)));
        }
    }
    match census(&mut con, cache, census_budget).await {
        Ok(c) => out.extend(census_findings(cache, &c)),
        Err(e) => out.push(finding(
            Severity::Warn,
            "cache",
            Code::CacheCensusIncomplete,
            format!(
                "the SCAN census failed: {}",
                crate::http::truncate(&e.to_string(), 200)
            ),
        )),
    }
    out
}
