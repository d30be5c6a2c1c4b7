//! The key census: SCAN (never KEYS) in bounded batches under a time budget,
//! keeping only counters, so memory stays flat however many keys there are.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::finding;
use crate::config::Cache;
use crate::finding::{Code, Finding, Severity};

/// Keys asked for per SCAN call.
pub const SCAN_COUNT: usize = 1000;
/// Longest the census may take.
pub const CENSUS_BUDGET: Duration = Duration::from_secs(10);

/// Counters of one census run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    pub scanned: u64,
    pub cluster: u64,
    pub response: u64,
    pub response_without_ttl: u64,
    /// Keys under this cluster's prefixes that look like another environment's.
    pub foreign: u64,
    /// Per other environment name.
    pub others: BTreeMap<String, u64>,
    pub elsewhere: u64,
    pub complete: bool,
    pub elapsed_ms: u64,
}

/// How one key is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClass {
    Response { foreign: bool },
    Cluster { foreign: bool },
    Other(String),
    Elsewhere,
}

/// Pure: which bucket a key belongs to. The longest matching prefix wins.
pub fn classify_key(cache: &Cache, key: &[u8]) -> KeyClass {
    let other_env = cache
        .other_environments
        .iter()
        .filter(|e| key.starts_with(e.prefix.as_bytes()))
        .max_by_key(|e| e.prefix.len());
    let looks_foreign = |own: &str| {
        let rest = &key[own.len()..];
        other_env.is_some_and(|e| e.prefix.len() > own.len())
            || cache.other_environments.iter().any(|e| {
                let seg = format!(":{}:", e.name);
                let head = format!("{}:", e.name);
                rest.starts_with(head.as_bytes())
                    || rest.windows(seg.len()).any(|w| w == seg.as_bytes())
            })
    };
    if key.starts_with(cache.response_prefix.as_bytes()) {
        return KeyClass::Response {
            foreign: looks_foreign(&cache.response_prefix),
        };
    }
    if key.starts_with(cache.prefix.as_bytes()) {
        return KeyClass::Cluster {
            foreign: looks_foreign(&cache.prefix),
        };
    }
    match other_env {
        Some(e) => KeyClass::Other(e.name.clone()),
        None => KeyClass::Elsewhere,
    }
}

/// Walks the keyspace with SCAN until done or out of budget.
pub async fn census(
    con: &mut MultiplexedConnection,
    cache: &Cache,
    budget: Duration,
) -> Result<Census, redis::RedisError> {
    let started = Instant::now();
    let mut c = Census::default();
    for e in &cache.other_environments {
        c.others.insert(e.name.clone(), 0);
    }
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(con)
            .await?;
        let mut response_keys: Vec<Vec<u8>> = Vec::new();
        for key in keys {
            c.scanned += 1;
            match classify_key(cache, &key) {
                KeyClass::Response { foreign } => {
                    c.response += 1;
                    c.foreign += u64::from(foreign);
                    response_keys.push(key);
                }
                KeyClass::Cluster { foreign } => {
                    c.cluster += 1;
                    c.foreign += u64::from(foreign);
                }
                KeyClass::Other(name) => *c.others.entry(name).or_default() += 1,
                KeyClass::Elsewhere => c.elsewhere += 1,
            }
        }
        if !response_keys.is_empty() {
            let mut pipe = redis::pipe();
            for k in &response_keys {
                pipe.cmd("TTL").arg(k);
            }
            let ttls: Vec<i64> = pipe.query_async(con).await?;
            c.response_without_ttl += ttls.iter().filter(|t| **t == -1).count() as u64;
        }
        cursor = next;
        if cursor == 0 {
            c.complete = true;
            break;
        }
        if started.elapsed() >= budget {
            break;
        }
    }
    c.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(c)
}

/// Pure: what the census counts mean.
pub fn census_findings(cache: &Cache, c: &Census) -> Vec<Finding> {
    let others: Vec<String> = c.others.iter().map(|(n, k)| format!("{n} {k}")).collect();
    let mut text = format!(
        "SCAN census of {} keys in {} ms: {} {} (of which response cache {} {}), {}other {}",
        c.scanned,
        c.elapsed_ms,
        cache.prefix,
        c.cluster + c.response,
        cache.response_prefix,
        c.response,
        if others.is_empty() {
            String::new()
        } else {
            format!("{}, ", others.join(", "))
        },
        c.elsewhere,
    );
    let mut out = Vec::new();
    if c.complete {
        out.push(finding(Severity::Ok, "cache", Code::CacheCensus, text));
    } else {
        text.push_str(": stopped at its time budget, counts are lower bounds");
        out.push(finding(
            Severity::Ok,
            "cache",
            Code::CacheCensusIncomplete,
            text,
        ));
    }
    if c.response_without_ttl > 0 {
        out.push(finding(
            Severity::Warn,
            "cache",
            Code::CacheStaleResponses,
            format!(
                "{} keys under the response prefix {} have no TTL: those cached answers never expire (stale cache)",
                c.response_without_ttl, cache.response_prefix
            ),
        ));
    }
    if c.foreign > 0 {
        out.push(finding(
            Severity::Warn,
            "cache",
            Code::CacheForeignKeys,
            format!(
                "{} keys under this cluster's prefix {} look like another environment's: environments share a namespace",
                c.foreign, cache.prefix
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::cache::test_cache as cache;

    #[test]
    fn keys_are_counted_in_the_longest_matching_bucket() {
        let c = cache(
            "aisbf:",
            "aisbf:response:",
            &[("staging", "aisbf:staging:")],
        );
        assert_eq!(
            classify_key(&c, b"aisbf:response:x"),
            KeyClass::Response { foreign: false }
        );
        assert_eq!(
            classify_key(&c, b"aisbf:staging:x"),
            KeyClass::Cluster { foreign: true }
        );
        assert_eq!(
            classify_key(&c, b"aisbf:x"),
            KeyClass::Cluster { foreign: false }
        );
        assert_eq!(classify_key(&c, b"other"), KeyClass::Elsewhere);
        let c = cache(
            "aisbf:prod:",
            "aisbf:prod:response:",
            &[("staging", "aisbf:staging:")],
        );
        assert_eq!(
            classify_key(&c, b"aisbf:staging:x"),
            KeyClass::Other("staging".into())
        );
        assert_eq!(
            classify_key(&c, b"aisbf:prod:staging:x"),
            KeyClass::Cluster { foreign: true }
        );
    }

    #[test]
    fn census_counts_become_findings() {
        let c = cache("aisbf:p:", "aisbf:p:response:", &[("staging", "aisbf:s:")]);
        let healthy = Census {
            scanned: 10,
            cluster: 5,
            response: 5,
            complete: true,
            ..Census::default()
        };
        let f = census_findings(&c, &healthy);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].code, f[0].severity),
            (Code::CacheCensus, Severity::Ok)
        );
        let bad = Census {
            response_without_ttl: 3,
            foreign: 2,
            complete: false,
            ..healthy
        };
        let codes: Vec<Code> = census_findings(&c, &bad).iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [
                Code::CacheCensusIncomplete,
                Code::CacheStaleResponses,
                Code::CacheForeignKeys
            ]
        );
    }
}
