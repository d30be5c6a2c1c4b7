//! What Redis says about itself (INFO): version, memory, eviction, keyspace.

use std::collections::BTreeMap;

use super::finding;
use crate::finding::{Code, Finding, Severity};

/// `INFO` as key/value pairs.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// What the server said about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    pub latency_ms: u64,
    pub info: BTreeMap<String, String>,
    pub db: i64,
}

/// Pure: reachability, memory, eviction and keyspace facts.
pub fn server_findings(f: &ServerFacts) -> Vec<Finding> {
    let get = |k: &str| f.info.get(k).map(String::as_str).unwrap_or("?");
    let keyspace = f
        .info
        .get(&format!("db{}", f.db))
        .cloned()
        .unwrap_or_else(|| "keys=0".into());
    let policy = get("maxmemory_policy");
    let mut out = vec![
        finding(
            Severity::Ok,
            "cache",
            Code::CacheOk,
            format!(
                "Redis {} answered in {} ms; memory {} (max {}), policy {policy}, evicted_keys {}, db{}: {keyspace}",
                get("redis_version"),
                f.latency_ms,
                get("used_memory_human"),
                match get("maxmemory_human") {
                    "0B" => "none",
                    m => m,
                },
                get("evicted_keys"),
                f.db,
            ),
        )
        .with_latency(Some(f.latency_ms)),
    ];
    out.extend(memory_finding(f));
    let evicted: u64 = get("evicted_keys").parse().unwrap_or(0);
    if evicted > 0 {
        out.push(finding(
            Severity::Warn,
            "cache",
            Code::CacheEvicting,
            format!("Redis has evicted {evicted} keys (maxmemory-policy {policy}): cached answers and cooldown state disappear early"),
        ));
    }
    out
}

/// Share of `maxmemory` from which a `noeviction` Redis is near full.
pub const NEAR_FULL_PERCENT: u64 = 90;

/// Pure: a `noeviction` Redis at (or near) `maxmemory` refuses every write:
/// AISBF logs "command not allowed when used memory > 'maxmemory'" and goes on
/// answering, uncached. Nothing is evicted, so `evicted_keys` cannot show it.
fn memory_finding(f: &ServerFacts) -> Option<Finding> {
    let num = |k: &str| f.info.get(k).and_then(|v| v.parse::<u64>().ok());
    let (used, max) = (num("used_memory")?, num("maxmemory")?);
    let policy = f.info.get("maxmemory_policy")?;
    if max == 0 || policy != "noeviction" {
        return None;
    }
    let human = |k: &str, v: u64| {
        f.info
            .get(&format!("{k}_human"))
            .cloned()
            .unwrap_or_else(|| format!("{v}B"))
    };
    let (used_h, max_h) = (human("used_memory", used), human("maxmemory", max));
    let percent = used.saturating_mul(100) / max;
    if used >= max {
        Some(finding(
            Severity::Fail,
            "cache",
            Code::CacheFull,
            format!(
                "Redis is full: used_memory {used_h} of maxmemory {max_h} with maxmemory-policy noeviction, so every AISBF cache write fails (\"command not allowed when used memory > 'maxmemory'\"): nothing is shared or cached, and evicted_keys stays 0"
            ),
        ))
    } else if percent >= NEAR_FULL_PERCENT {
        Some(finding(
            Severity::Warn,
            "cache",
            Code::CacheNearFull,
            format!(
                "Redis is at {percent} % of maxmemory ({used_h} of {max_h}) with maxmemory-policy noeviction: when it is full every AISBF cache write fails"
            ),
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::cache::db_index;

    #[test]
    fn info_is_parsed_and_eviction_is_a_warning() {
        let info = parse_info(
            "# Server\r\nredis_version:7.0.15\r\nevicted_keys:12\r\nmaxmemory_policy:allkeys-lru\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n",
        );
        assert_eq!(
            info.get("redis_version").map(String::as_str),
            Some("7.0.15")
        );
        let f = server_findings(&ServerFacts {
            latency_ms: 1,
            info,
            db: 0,
        });
        assert!(f[0].message.contains("keys=3"), "{}", f[0].message);
        assert_eq!(f[1].code, Code::CacheEvicting);
        assert_eq!(db_index("redis://h:6379/3"), 3);
        assert_eq!(db_index("redis://h:6379"), 0);
    }

    fn memory(used: u64, max: u64, policy: &str) -> Vec<(Code, Severity)> {
        let info = parse_info(&format!(
            "used_memory:{used}\r\nmaxmemory:{max}\r\nmaxmemory_policy:{policy}\r\nevicted_keys:0\r\n"
        ));
        server_findings(&ServerFacts {
            latency_ms: 1,
            info,
            db: 0,
        })
        .iter()
        .skip(1)
        .map(|f| (f.code, f.severity))
        .collect()
    }

    #[test]
    fn noeviction_redis_at_maxmemory_is_full_and_near_it_is_a_warning() {
        let mb = 1024 * 1024;
        // (used, max, policy, expected beyond the ok line)
        type Row<'a> = (u64, u64, &'a str, Vec<(Code, Severity)>);
        let rows: Vec<Row> = vec![
            (
                2 * mb,
                2 * mb,
                "noeviction",
                vec![(Code::CacheFull, Severity::Fail)],
            ),
            (
                3 * mb,
                2 * mb,
                "noeviction",
                vec![(Code::CacheFull, Severity::Fail)],
            ),
            (
                19 * mb / 10,
                2 * mb,
                "noeviction",
                vec![(Code::CacheNearFull, Severity::Warn)],
            ),
            (mb, 2 * mb, "noeviction", vec![]),
            // No limit, or a policy that evicts instead of refusing.
            (3 * mb, 0, "noeviction", vec![]),
            (2 * mb, 2 * mb, "allkeys-lru", vec![]),
        ];
        for (used, max, policy, expected) in rows {
            assert_eq!(memory(used, max, policy), expected, "{used} {max} {policy}");
        }
    }
}
