//! The Redis cache (`check cache`): reachability, memory, prefixes and a key census.
//!
//! The census walks the keyspace with SCAN (never KEYS) in bounded batches
//! under a time budget and keeps only counters, so memory stays flat however
//! many keys there are. Prefix checks are pure functions over config and the
//! nodes' aisbf.json files.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use redis::aio::MultiplexedConnection;

use crate::aisbf_json::{self, NodeData};
use crate::config::{Cache, Config};
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::probe::context::ProbeContext;
use crate::secret::Secret;

/// Keys asked for per SCAN call.
pub const SCAN_COUNT: usize = 1000;
/// Longest the census may take.
pub const CENSUS_BUDGET: Duration = Duration::from_secs(10);

pub struct CacheProbe;

impl super::Probe for CacheProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Cache
    }

    fn requires(&self, config: &Config) -> Result<(), String> {
        config
            .cache
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| "a [cache] section with url and prefixes".to_string())
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let Some(cache) = &ctx.config.cache else {
                return Vec::new();
            };
            let timeout = Duration::from_millis(ctx.config.cluster.timeout_ms);
            let mut findings = prefix_findings(cache);
            let nodes: Vec<(String, Option<PathBuf>)> = ctx
                .nodes()
                .iter()
                .map(|n| (n.name.clone(), n.aisbf_json.clone()))
                .collect();
            let node_data: Vec<(String, Result<NodeData, String>)> = nodes
                .into_iter()
                .filter_map(|(name, path)| path.map(|p| (name, aisbf_json::load(&p))))
                .collect();
            findings.extend(compare_nodes(cache, &node_data));
            let urls: Vec<(String, url::Url)> = ctx
                .nodes()
                .iter()
                .map(|n| (n.name.clone(), n.url.clone()))
                .collect();
            let addresses = node_addresses(&urls, timeout).await;
            let budget = CENSUS_BUDGET.min(ctx.remaining() / 2);
            findings.extend(observe_and_assess(cache, timeout, budget, &addresses).await);
            findings
        })
    }
}

/// Why Redis could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheFailure {
    Unreachable(String),
    AccessDenied(String),
    NotRedis(String),
}

impl CacheFailure {
    pub fn message(&self) -> String {
        match self {
            CacheFailure::Unreachable(t) => format!("cannot reach Redis: {t}"),
            CacheFailure::AccessDenied(t) => format!("Redis refused the login: {t}"),
            CacheFailure::NotRedis(t) => format!("the cache URL answers, but not as Redis: {t}"),
        }
    }

    fn finding(&self) -> Finding {
        let code = match self {
            CacheFailure::Unreachable(_) => Code::CacheUnreachable,
            CacheFailure::AccessDenied(_) => Code::CacheAccessDenied,
            CacheFailure::NotRedis(_) => Code::CacheNotRedis,
        };
        finding(Severity::Fail, "cache", code, self.message())
    }
}

fn finding(sev: Severity, subject: &str, code: Code, message: String) -> Finding {
    Finding::new(ProbeKind::Cache, sev, subject, code, message)
}

fn classify(e: &redis::RedisError) -> CacheFailure {
    let text = crate::http::truncate(&e.to_string(), 200);
    let lower = text.to_ascii_lowercase();
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || lower.contains("noauth")
        || lower.contains("wrongpass")
        || lower.contains("invalid password")
        || lower.contains("invalid username-password")
    {
        CacheFailure::AccessDenied(text)
    } else if e.kind() == redis::ErrorKind::Parse {
        CacheFailure::NotRedis(text)
    } else {
        CacheFailure::Unreachable(text)
    }
}

/// When the client failed for a reason that is not a login: does anything
/// that speaks Redis listen there? A raw `PING` tells Redis (`+PONG`,
/// `-NOAUTH`) from an HTTP server or anything else. Plain `redis://` only.
async fn sniff(url: &str, timeout: Duration) -> Option<CacheFailure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let parsed = url::Url::parse(url).ok()?;
    if parsed.scheme() != "redis" {
        return None;
    }
    let host = parsed.host_str()?.to_string();
    let port = parsed.port().unwrap_or(6379);
    let mut stream = tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .ok()?
    .ok()?;
    stream.write_all(b"PING\r\n").await.ok()?;
    let mut buf = [0u8; 64];
    let n = match tokio::time::timeout(timeout, stream.read(&mut buf)).await {
        Ok(Ok(n)) => n,
        _ => return None,
    };
    let reply = String::from_utf8_lossy(&buf[..n]);
    if reply.starts_with("+PONG") {
        return None;
    }
    if reply.starts_with("-NOAUTH") || reply.starts_with("-WRONGPASS") {
        return Some(CacheFailure::AccessDenied(reply.trim().to_string()));
    }
    let first = reply.lines().next().unwrap_or("").trim();
    Some(CacheFailure::NotRedis(format!(
        "PING answered {:?}",
        crate::http::truncate(first, 60)
    )))
}

/// Connects with a connect and a response timeout; every failure is classified.
pub async fn connect(
    url: &Secret,
    timeout: Duration,
) -> Result<MultiplexedConnection, CacheFailure> {
    let client = redis::Client::open(url.expose()).map_err(|e| {
        CacheFailure::Unreachable(format!("cache.url cannot be used: {}", e.kind_name()))
    })?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let attempt = tokio::time::timeout(
        timeout + Duration::from_millis(200),
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await;
    let failure = match attempt {
        Ok(Ok(mut con)) => match redis::cmd("PING").query_async::<String>(&mut con).await {
            Ok(_) => return Ok(con),
            Err(e) => classify(&e),
        },
        Ok(Err(e)) => classify(&e),
        Err(_) => CacheFailure::Unreachable(format!("no answer within {} ms", timeout.as_millis())),
    };
    if matches!(failure, CacheFailure::AccessDenied(_)) {
        return Err(failure);
    }
    if let CacheFailure::Unreachable(t) = &failure
        && url.expose().starts_with("rediss://")
    {
        return Err(CacheFailure::Unreachable(format!(
            "{t} (rediss:// asks for TLS: does the server on that port speak TLS?)"
        )));
    }
    Err(sniff(url.expose(), timeout).await.unwrap_or(failure))
}

trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for redis::RedisError {
    fn kind_name(&self) -> String {
        format!("{:?}", self.kind())
    }
}

/// The db number in a redis URL path (`redis://h:6379/2` is 2).
pub fn db_index(url: &str) -> i64 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.path().trim_start_matches('/').parse().ok())
        .unwrap_or(0)
}

/// `INFO` as key/value pairs.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

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

/// What the server said about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    pub latency_ms: u64,
    pub info: BTreeMap<String, String>,
    pub db: i64,
}

async fn observe_and_assess(
    cache: &Cache,
    timeout: Duration,
    budget: Duration,
    addresses: &[(String, BTreeSet<IpAddr>)],
) -> Vec<Finding> {
    let started = Instant::now();
    let mut con = match connect(&cache.url, timeout).await {
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
    match census(&mut con, cache, budget).await {
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

/// Each node's host addresses: the IP in its URL, or what its name resolves to
/// (empty when it does not resolve in time).
async fn node_addresses(
    nodes: &[(String, url::Url)],
    timeout: Duration,
) -> Vec<(String, BTreeSet<IpAddr>)> {
    let mut out = Vec::with_capacity(nodes.len());
    for (name, url) in nodes {
        let port = url.port_or_known_default().unwrap_or(80);
        let ips: BTreeSet<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => BTreeSet::from([IpAddr::V4(ip)]),
            Some(url::Host::Ipv6(ip)) => BTreeSet::from([IpAddr::V6(ip)]),
            Some(url::Host::Domain(d)) => {
                match tokio::time::timeout(timeout, tokio::net::lookup_host((d, port))).await {
                    Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
                    _ => BTreeSet::new(),
                }
            }
            None => BTreeSet::new(),
        };
        out.push((name.clone(), ips));
    }
    out
}

/// Pure: the node addresses tell the nodes apart (at least two nodes, each with
/// an address, none shared with another node). Nodes on one host, or behind
/// names that do not resolve, cannot be matched with Redis clients.
pub fn distinct_addresses(nodes: &[(String, BTreeSet<IpAddr>)]) -> bool {
    nodes.len() >= 2
        && nodes.iter().all(|(_, ips)| !ips.is_empty())
        && nodes
            .iter()
            .enumerate()
            .all(|(i, (_, a))| nodes.iter().skip(i + 1).all(|(_, b)| a.is_disjoint(b)))
}

/// Pure: the client IPs in a `CLIENT LIST` answer (`addr=ip:port`, IPv6 in brackets or not).
pub fn client_ips(list: &str) -> BTreeSet<IpAddr> {
    list.lines()
        .filter_map(|line| {
            let addr = line
                .split_whitespace()
                .find_map(|f| f.strip_prefix("addr="))?;
            let (ip, _port) = addr.rsplit_once(':')?;
            ip.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()
        })
        .collect()
}

/// Pure: nodes none of whose addresses has a client connection to Redis.
pub fn connection_findings(
    nodes: &[(String, BTreeSet<IpAddr>)],
    clients: &BTreeSet<IpAddr>,
) -> Vec<Finding> {
    nodes
        .iter()
        .filter(|(_, ips)| ips.is_disjoint(clients))
        .map(|(name, ips)| {
            let ips: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
            finding(
                Severity::Warn,
                name,
                Code::CacheNodeNotConnected,
                format!(
                    "no Redis client is connected from {name}'s address ({}): {name} does not use this Redis (its aisbf.json points at another Redis, or it fell back to a private cache), unless it reaches Redis through another address or has not used its cache since it started",
                    ips.join(", ")
                ),
            )
        })
        .collect()
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

/// Pure: prefixes of different environments must not contain each other.
pub fn prefix_findings(cache: &Cache) -> Vec<Finding> {
    let mut envs: Vec<(&str, &str)> = vec![
        ("this cluster", cache.prefix.as_str()),
        ("this cluster", cache.response_prefix.as_str()),
    ];
    for e in &cache.other_environments {
        envs.push((e.name.as_str(), e.prefix.as_str()));
    }
    let mut out = Vec::new();
    for (i, (an, ap)) in envs.iter().enumerate() {
        for (bn, bp) in envs.iter().skip(i + 1) {
            if an == bn || !(ap.starts_with(bp) || bp.starts_with(ap)) {
                continue;
            }
            let (short, long) = if ap.len() <= bp.len() {
                (ap, bp)
            } else {
                (bp, ap)
            };
            let subject = if *an == "this cluster" { *bn } else { *an };
            out.push(finding(
                Severity::Fail,
                subject,
                Code::CachePrefixOverlap,
                format!(
                    "prefix {short:?} ({}) contains {long:?} ({}): clearing one environment's cache (AISBF runs KEYS {short}*) deletes the other's keys",
                    if short == ap { an } else { bn },
                    if long == ap { an } else { bn },
                ),
            ));
        }
    }
    if out.is_empty() {
        out.push(finding(
            Severity::Ok,
            "prefixes",
            Code::CachePrefixesOk,
            format!(
                "prefixes {:?} and {:?} overlap no other environment's ({} declared)",
                cache.prefix,
                cache.response_prefix,
                cache.other_environments.len()
            ),
        ));
    }
    out
}

/// Pure: each node's aisbf.json cache prefixes against the cluster's.
pub fn compare_nodes(cache: &Cache, nodes: &[(String, Result<NodeData, String>)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, data) in nodes {
        let d = match data {
            Ok(d) => d,
            Err(e) => {
                out.push(finding(
                    Severity::Warn,
                    name,
                    Code::NodeConfigUnreadable,
                    format!("cannot compare {name}'s cache config: {e}"),
                ));
                continue;
            }
        };
        let mut diffs = Vec::new();
        if d.cache_prefix != cache.prefix {
            diffs.push(format!(
                "cache prefix {:?} (cluster: {:?})",
                d.cache_prefix, cache.prefix
            ));
        }
        if d.response_prefix != cache.response_prefix {
            diffs.push(format!(
                "response-cache prefix {:?} (cluster: {:?})",
                d.response_prefix, cache.response_prefix
            ));
        }
        if !diffs.is_empty() {
            out.push(finding(
                Severity::Fail,
                name,
                Code::CacheNodePrefixDiffers,
                format!(
                    "{name}'s aisbf.json uses {}: it does not share the cluster's cache",
                    diffs.join(" and ")
                ),
            ));
            continue;
        }
        let private: Vec<String> = [
            ("cache type", &d.cache_type),
            ("response_cache backend", &d.response_backend),
        ]
        .into_iter()
        .filter_map(|(what, v)| {
            v.as_deref()
                .filter(|v| !v.eq_ignore_ascii_case("redis"))
                .map(|v| format!("{what} {v:?}"))
        })
        .collect();
        if !private.is_empty() {
            out.push(finding(
                Severity::Fail,
                name,
                Code::CacheNodeNotShared,
                format!(
                    "{name}'s aisbf.json sets {}: it keeps a private cache, not the shared Redis",
                    private.join(" and ")
                ),
            ));
            continue;
        }
        out.push(finding(
            Severity::Ok,
            name,
            Code::CacheNodeOk,
            format!("{name}'s aisbf.json uses the cluster's cache prefixes"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OtherEnvironment;

    fn cache(prefix: &str, response: &str, others: &[(&str, &str)]) -> Cache {
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

    fn node(prefix: &str, response: &str) -> NodeData {
        NodeData {
            database: crate::aisbf_json::DbTarget::Sqlite { path: "x".into() },
            cache_type: Some("redis".into()),
            cache_prefix: prefix.into(),
            response_backend: Some("redis".into()),
            response_prefix: response.into(),
        }
    }

    #[test]
    fn prefix_overlap_table() {
        // (prefix, response, others, expected overlapping subjects)
        type Row<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);
        let rows: Vec<Row> = vec![
            (
                "aisbf:prod:",
                "aisbf:prod:response:",
                vec![("staging", "aisbf:staging:")],
                vec![],
            ),
            (
                "aisbf:",
                "aisbf:response:",
                vec![("staging", "aisbf:staging:")],
                vec!["staging"],
            ),
            (
                "aisbf:prod:",
                "aisbf:prod:response:",
                vec![("staging", "aisbf:")],
                vec!["staging", "staging"],
            ),
            (
                "aisbf:prod:",
                "aisbf:prod:response:",
                vec![("a", "x:"), ("b", "x:y:")],
                vec!["a"],
            ),
            (
                "aisbf:h1:",
                "aisbf:h1:response:",
                vec![("staging", "aisbf:h1staging:")],
                vec![],
            ),
        ];
        for (p, r, others, expected) in rows {
            let f = prefix_findings(&cache(p, r, &others));
            let got: Vec<&str> = f
                .iter()
                .filter(|f| f.code == Code::CachePrefixOverlap)
                .map(|f| f.subject.as_str())
                .collect();
            assert_eq!(got, expected, "{p} {r} {others:?}");
            if expected.is_empty() {
                assert_eq!(f[0].code, Code::CachePrefixesOk);
            }
        }
    }

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
    fn node_prefix_differences_name_the_node() {
        let c = cache("aisbf:p:", "aisbf:p:response:", &[]);
        let mut private = node("aisbf:p:", "aisbf:p:response:");
        private.cache_type = Some("sqlite".into());
        let nodes = vec![
            (
                "aisbf-1".to_string(),
                Ok(node("aisbf:p:", "aisbf:p:response:")),
            ),
            (
                "aisbf-2".to_string(),
                Ok(node("aisbf:q:", "aisbf:q:response:")),
            ),
            ("aisbf-3".to_string(), Ok(private)),
            ("aisbf-4".to_string(), Err("unreadable".to_string())),
        ];
        let f = compare_nodes(&c, &nodes);
        let got: Vec<(&str, Code)> = f.iter().map(|f| (f.subject.as_str(), f.code)).collect();
        assert_eq!(
            got,
            [
                ("aisbf-1", Code::CacheNodeOk),
                ("aisbf-2", Code::CacheNodePrefixDiffers),
                ("aisbf-3", Code::CacheNodeNotShared),
                ("aisbf-4", Code::NodeConfigUnreadable)
            ]
        );
        assert!(f[1].message.contains("aisbf:q:"));
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

    fn ips(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().filter_map(|s| s.parse().ok()).collect()
    }

    #[test]
    fn node_address_without_a_redis_client_is_not_connected() {
        let list = "id=3 addr=127.0.0.2:50412 laddr=127.0.0.1:6379 fd=8 name= db=0 cmd=client|list\nid=4 addr=[::1]:4000 fd=9\n";
        assert_eq!(client_ips(list), ips(&["127.0.0.2", "::1"]));
        let nodes = vec![
            ("aisbf-1".to_string(), ips(&["127.0.0.2"])),
            ("aisbf-2".to_string(), ips(&["127.0.0.3"])),
            ("aisbf-3".to_string(), ips(&["::1"])),
        ];
        assert!(distinct_addresses(&nodes));
        let f = connection_findings(&nodes, &client_ips(list));
        let got: Vec<(&str, Code)> = f.iter().map(|f| (f.subject.as_str(), f.code)).collect();
        assert_eq!(got, vec![("aisbf-2", Code::CacheNodeNotConnected)]);
    }

    #[test]
    fn nodes_on_one_address_or_unresolved_are_not_matched_with_clients() {
        let same = vec![
            ("a".to_string(), ips(&["127.0.0.1"])),
            ("b".to_string(), ips(&["127.0.0.1"])),
        ];
        assert!(!distinct_addresses(&same));
        let unresolved = vec![
            ("a".to_string(), ips(&["10.0.0.1"])),
            ("b".to_string(), ips(&[])),
        ];
        assert!(!distinct_addresses(&unresolved));
        assert!(!distinct_addresses(&[(
            "a".to_string(),
            ips(&["10.0.0.1"])
        )]));
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
