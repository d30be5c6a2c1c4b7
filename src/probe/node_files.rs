//! Each node's own files (`check files`): its whole aisbf.json and its
//! `session_secret.key`, compared with the cluster's config and with the other
//! nodes'.
//!
//! AISBF keeps per-node state in files the API never shows: one node with
//! `response_cache.enabled = false`, another Redis db or its own session key
//! looks healthy from outside. The probe reads the files named by
//! `aisbf_json` (the session key is the file next to it), then pure functions
//! ([`compare`], [`compare_sessions`]) name each differing key and the odd
//! node. Passwords are never read ([`crate::aisbf_json`]); the session key is
//! hashed (SHA-256) as it is read and only compared: neither the key nor its
//! hash is ever printed, logged or stored.

use std::collections::BTreeMap;
use std::path::Path;

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use crate::aisbf_json::{self, DbTarget, NodeConfig};
use crate::config::Config;
use crate::config::DashboardLogin;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::Outcome;
use crate::probe::context::ProbeContext;
use crate::probe::target::join;

/// The file next to aisbf.json that signs a node's dashboard sessions.
pub const SESSION_KEY_FILE: &str = "session_secret.key";

pub struct NodeFilesProbe;

impl super::Probe for NodeFilesProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Files
    }

    fn requires(&self, config: &Config) -> Result<(), String> {
        if config.cluster.nodes.iter().any(|n| n.aisbf_json.is_some()) {
            Ok(())
        } else {
            Err("aisbf_json on at least one [[cluster.nodes]]".into())
        }
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            // Every node with a file is compared (a majority needs them all);
            // only the nodes in scope are reported.
            let mut findings = Vec::new();
            let mut configs = Vec::new();
            let mut sessions = Vec::new();
            for node in &ctx.config.cluster.nodes {
                let Some(path) = &node.aisbf_json else {
                    continue;
                };
                match aisbf_json::load_config(path) {
                    Ok(c) => configs.push((node.name.clone(), c)),
                    Err(e) => findings.push(finding(
                        Severity::Warn,
                        &node.name,
                        Code::NodeConfigUnreadable,
                        format!("cannot compare {}'s aisbf.json: {e}", node.name),
                    )),
                }
                let key = path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(SESSION_KEY_FILE);
                sessions.push((node.name.clone(), SessionKey::read(&key)));
            }
            findings.extend(assess(&expected(&ctx.config), &configs, &sessions));
            if let Some(login) = &ctx.config.cluster.dashboard {
                // Logins on a few nodes: a node whose clock runs ahead only
                // shows in the sessions it issues itself.
                let issuers = ctx.config.cluster.nodes.iter().take(SESSION_ISSUERS);
                let observed =
                    futures::future::join_all(issuers.map(|n| observe_sessions(ctx, login, n)))
                        .await;
                let live: Vec<Finding> = observed.iter().flat_map(session_cross_check).collect();
                // A node whose sessions fail is not "ok", whatever its files say.
                findings.retain(|f| {
                    f.code != Code::NodeFilesOk
                        || !live
                            .iter()
                            .any(|l| l.subject == f.subject && l.severity > Severity::Ok)
                });
                findings.extend(live);
            }
            let in_scope: Vec<&str> = ctx.nodes().iter().map(|n| n.name.as_str()).collect();
            findings.retain(|f| in_scope.contains(&f.subject.as_str()));
            findings
        })
    }
}

// ---------------------------------------------------------------------------
// Dashboard sessions, live: a login on one node, its cookie tried on the others
// ---------------------------------------------------------------------------

/// AISBF's session cookie (Starlette's SessionMiddleware).
const SESSION_COOKIE: &str = "session";

/// What the session cross-check saw.
#[derive(Debug, Clone)]
pub enum SessionObservation {
    /// The login on `issuer` did not give a session (wrong credentials, no answer).
    LoginFailed { issuer: String, why: String },
    /// The login on `issuer` gave a cookie; each node's answer to `GET /dashboard` with it.
    Tried {
        issuer: String,
        answers: Vec<(String, Outcome)>,
    },
}

/// How many nodes issue a session for the cross-check (each cookie is tried on
/// every node: cost grows with this times the cluster size).
const SESSION_ISSUERS: usize = 3;

/// Logs in on `first` and tries the cookie on every node.
async fn observe_sessions(
    ctx: &ProbeContext,
    login: &DashboardLogin,
    first: &crate::config::Node,
) -> SessionObservation {
    let nodes = &ctx.config.cluster.nodes;
    let issuer = first.name.clone();
    let url = join(&first.url, "/dashboard/login");
    let fields = [
        ("username", login.user.as_str()),
        ("password", login.password.expose()),
    ];
    let cookie = match ctx.http.login_form(&url, &fields, SESSION_COOKIE).await {
        Err(f) => {
            return SessionObservation::LoginFailed {
                issuer,
                why: f.describe(),
            };
        }
        Ok((status, None)) => {
            return SessionObservation::LoginFailed {
                issuer,
                why: format!("POST /dashboard/login answered {status} without a session cookie"),
            };
        }
        Ok((_, Some(cookie))) => cookie,
    };
    let tries = nodes.iter().map(|n| {
        let url = join(&n.url, "/dashboard");
        let cookie = &cookie;
        async move { (n.name.clone(), ctx.http.get_with_cookie(&url, cookie).await) }
    });
    SessionObservation::Tried {
        issuer,
        answers: futures::future::join_all(tries).await,
    }
}

/// Pure: which nodes refuse a session their peers accept. The group that
/// accepts the issuer's cookie is compared with the group that refuses it;
/// the smaller one is the odd one out (the issuer itself may be the odd node).
pub fn session_cross_check(o: &SessionObservation) -> Vec<Finding> {
    let (issuer, answers) = match o {
        SessionObservation::LoginFailed { issuer, why } => {
            return vec![finding(
                Severity::Warn,
                issuer,
                Code::DashboardLoginFailed,
                format!(
                    "cannot log in to {issuer}'s dashboard as cluster.dashboard_user ({why}): the session cross-check did not run"
                ),
            )];
        }
        SessionObservation::Tried { issuer, answers } => (issuer, answers),
    };
    let accepted = |oc: &Outcome| matches!(oc, Ok(a) if a.status == 200);
    let refused = |oc: &Outcome| matches!(oc, Ok(a) if matches!(a.body, crate::http::Body::Redirect { .. }) || matches!(a.status, 401 | 403));
    let yes: Vec<&str> = answers
        .iter()
        .filter(|(_, oc)| accepted(oc))
        .map(|(n, _)| n.as_str())
        .collect();
    let no: Vec<&str> = answers
        .iter()
        .filter(|(_, oc)| refused(oc))
        .map(|(n, _)| n.as_str())
        .collect();
    if no.is_empty() || yes.is_empty() {
        return Vec::new();
    }
    // Ties blame the refusing side: the issuer's own session is the reference.
    let odd = if no.len() <= yes.len() { &no } else { &yes };
    odd.iter()
        .map(|node| {
            finding(
                Severity::Fail,
                node,
                Code::DashboardSessionRefused,
                format!(
                    "a dashboard session issued by {issuer} is accepted by {} and refused by {}: behind the balancer, dashboard users are logged out on every other request ({node} differs: its session_secret.key or its clock)",
                    name_few(&yes),
                    name_few(&no)
                ),
            )
        })
        .collect()
}

fn name_few(names: &[&str]) -> String {
    crate::finding::name_few(names, 3, "more")
}

fn finding(sev: Severity, subject: &str, code: Code, message: String) -> Finding {
    Finding::new(ProbeKind::Files, sev, subject, code, message)
}

// ---------------------------------------------------------------------------
// aisbf.json keys
// ---------------------------------------------------------------------------

/// One compared key, e.g. `response_cache.enabled`.
pub type Key = &'static str;

/// The compared keys of one node with their values as shown to people. Keys
/// that do not apply are left out: no host for a SQLite database, no Redis
/// keys for a cache that is not on Redis, nothing but `enabled` for a
/// disabled response cache.
pub fn keys_of(c: &NodeConfig) -> Vec<(Key, String)> {
    let mut out = Vec::new();
    match &c.database {
        DbTarget::Sqlite { .. } => out.push(("database.type", "sqlite".to_string())),
        DbTarget::Mysql {
            host,
            port,
            database,
        } => {
            out.push(("database.type", "mysql".to_string()));
            out.push(("database.host", host.clone()));
            out.push(("database.port", port.to_string()));
            out.push(("database.name", database.clone()));
        }
    }
    out.push(("cache.type", c.cache.kind.clone()));
    if c.cache.kind.eq_ignore_ascii_case("redis") {
        out.push(("cache.host", c.cache.host.clone()));
        out.push(("cache.port", c.cache.port.to_string()));
        out.push(("cache.db", c.cache.db.to_string()));
        out.push(("cache.prefix", c.cache.prefix.clone()));
    }
    let r = &c.response_cache;
    out.push(("response_cache.enabled", r.enabled.to_string()));
    if r.enabled {
        out.push(("response_cache.backend", r.backend.clone()));
        if r.backend.eq_ignore_ascii_case("redis") {
            out.push(("response_cache.host", r.host.clone()));
            out.push(("response_cache.port", r.port.to_string()));
            out.push(("response_cache.db", r.db.to_string()));
            out.push(("response_cache.prefix", r.prefix.clone()));
        }
        out.push(("response_cache.ttl", r.ttl.to_string()));
    }
    out.push(("auth.enabled", c.auth_enabled.to_string()));
    out.push(("client_rate_limiting", c.client_rate_limit.clone()));
    out
}

/// What the doctor's own config says those keys should be: `[database]` names
/// the database, `[cache]` the Redis server, db and prefixes, and a user token
/// in `cluster.token` only works on nodes that enforce auth.
pub fn expected(config: &Config) -> BTreeMap<Key, String> {
    let mut out = BTreeMap::new();
    if let Some(db) = &config.database {
        match DbTarget::from_url(db.url.expose()) {
            Some(DbTarget::Mysql {
                host,
                port,
                database,
            }) => {
                out.insert("database.type", "mysql".to_string());
                out.insert("database.host", host);
                out.insert("database.port", port.to_string());
                out.insert("database.name", database);
            }
            Some(DbTarget::Sqlite { .. }) => {
                out.insert("database.type", "sqlite".to_string());
            }
            None => {}
        }
    }
    if let Some(cache) = &config.cache {
        out.insert("cache.type", "redis".to_string());
        out.insert("response_cache.backend", "redis".to_string());
        if let Ok(url) = url::Url::parse(cache.url.expose()) {
            let host = url.host_str().unwrap_or("localhost");
            let host = match host.to_ascii_lowercase().as_str() {
                "localhost" | "[::1]" | "::1" => "127.0.0.1".to_string(),
                h => h.to_string(),
            };
            let port = url.port().unwrap_or(6379).to_string();
            let db = super::cache::db_index(cache.url.expose()).to_string();
            for section in ["cache", "response_cache"] {
                let key = |k: &str| -> Key {
                    match (section, k) {
                        ("cache", "host") => "cache.host",
                        ("cache", "port") => "cache.port",
                        ("cache", _) => "cache.db",
                        (_, "host") => "response_cache.host",
                        (_, "port") => "response_cache.port",
                        _ => "response_cache.db",
                    }
                };
                out.insert(key("host"), host.clone());
                out.insert(key("port"), port.clone());
                out.insert(key("db"), db.clone());
            }
        }
        out.insert("cache.prefix", cache.prefix.clone());
        out.insert("response_cache.prefix", cache.response_prefix.clone());
    }
    out.insert("auth.enabled", "true".to_string());
    out
}

/// What a differing key is measured against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// The doctor's config says `value`; `holders` are the nodes that agree.
    Cluster { value: String, holders: Vec<String> },
    /// Most nodes (`holders`) have `value`.
    Majority { value: String, holders: Vec<String> },
    /// No value is held by more than half the nodes: the other values, each
    /// with its nodes.
    Split(Vec<(String, Vec<String>)>),
}

/// One key on which a node is the odd one out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub key: Key,
    /// The node's own value.
    pub value: String,
    pub reference: Reference,
}

impl Difference {
    /// `response_cache.enabled: false here, true on aisbf-1, aisbf-3`.
    pub fn describe(&self) -> String {
        let (k, v) = (self.key, &self.value);
        match &self.reference {
            Reference::Cluster { value, holders } if holders.is_empty() => {
                format!("{k}: {v} here, {value} in the doctor's config (and on no node)")
            }
            Reference::Cluster { value, holders } => format!(
                "{k}: {v} here, {value} in the doctor's config and on {}",
                holders.join(", ")
            ),
            Reference::Majority { value, holders } => {
                format!("{k}: {v} here, {value} on {}", holders.join(", "))
            }
            Reference::Split(others) => format!(
                "{k}: {v} here, no majority: {}",
                others
                    .iter()
                    .map(|(val, nodes)| format!("{val} on {}", nodes.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

/// Pure: for every node, the keys on which it differs from the cluster's
/// config (where the config says) or else from the majority of the nodes
/// that have the key. Nodes come back in the given order, each with its
/// differences in key order (empty when it agrees).
pub fn compare(
    expected: &BTreeMap<Key, String>,
    nodes: &[(String, NodeConfig)],
) -> Vec<(String, Vec<Difference>)> {
    let keyed: Vec<(String, BTreeMap<Key, String>)> = nodes
        .iter()
        .map(|(n, c)| (n.clone(), keys_of(c).into_iter().collect()))
        .collect();
    let mut order: Vec<Key> = Vec::new();
    for (_, keys) in &keyed {
        for k in keys.keys() {
            if !order.contains(k) {
                order.push(k);
            }
        }
    }
    let mut out: Vec<(String, Vec<Difference>)> =
        keyed.iter().map(|(n, _)| (n.clone(), Vec::new())).collect();
    for key in order {
        // value -> nodes holding it, in node order.
        let mut by_value: Vec<(String, Vec<String>)> = Vec::new();
        for (node, keys) in &keyed {
            if let Some(v) = keys.get(key) {
                match by_value.iter_mut().find(|(x, _)| x == v) {
                    Some((_, holders)) => holders.push(node.clone()),
                    None => by_value.push((v.clone(), vec![node.clone()])),
                }
            }
        }
        let total: usize = by_value.iter().map(|(_, h)| h.len()).sum();
        let holders_of = |v: &str| -> Vec<String> {
            by_value
                .iter()
                .find(|(x, _)| x == v)
                .map(|(_, h)| h.clone())
                .unwrap_or_default()
        };
        let majority = by_value
            .iter()
            .find(|(_, h)| h.len() * 2 > total)
            .map(|(v, _)| v.clone());
        for (i, (_, keys)) in keyed.iter().enumerate() {
            let Some(value) = keys.get(key) else {
                continue;
            };
            let reference = if let Some(want) = expected.get(key) {
                (value != want).then(|| Reference::Cluster {
                    value: want.clone(),
                    holders: holders_of(want),
                })
            } else if let Some(m) = &majority {
                (value != m).then(|| Reference::Majority {
                    value: m.clone(),
                    holders: holders_of(m),
                })
            } else if by_value.len() > 1 {
                Some(Reference::Split(
                    by_value
                        .iter()
                        .filter(|(v, _)| v != value)
                        .cloned()
                        .collect(),
                ))
            } else {
                None
            };
            if let Some(reference) = reference {
                out[i].1.push(Difference {
                    key,
                    value: value.clone(),
                    reference,
                });
            }
        }
    }
    out
}

/// Pure: findings from the differences, one per node and section.
pub fn config_findings(diffs: &[(String, Vec<Difference>)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (node, differences) in diffs {
        for (section, code) in [
            ("database", Code::NodeDatabaseDiffers),
            ("cache", Code::NodeCacheDiffers),
            ("response_cache", Code::NodeResponseCacheDiffers),
            ("auth", Code::NodeAuthDiffers),
            ("client_rate_limiting", Code::NodeRateLimitDiffers),
        ] {
            let mine: Vec<&Difference> = differences
                .iter()
                .filter(|d| d.key.split('.').next() == Some(section))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let keys = mine
                .iter()
                .map(|d| d.describe())
                .collect::<Vec<_>>()
                .join("; ");
            let only_ttl = mine.iter().all(|d| d.key == "response_cache.ttl");
            // A per-node rate limit bites only under load: a warning.
            let severity = if only_ttl || section == "client_rate_limiting" {
                Severity::Warn
            } else {
                Severity::Fail
            };
            let effect = match section {
                "database" => format!(
                    "{node} does not share users, tokens and user routes with the other nodes"
                ),
                "cache" => format!("{node} does not share the general cache with the other nodes"),
                "response_cache"
                    if mine
                        .iter()
                        .any(|d| d.key == "response_cache.enabled" && d.value == "false") =>
                {
                    format!(
                        "{node} sends every identical request upstream instead of answering from the shared response cache"
                    )
                }
                "response_cache" if only_ttl => {
                    format!("{node} keeps cached answers for another time than the other nodes")
                }
                "response_cache" => format!(
                    "{node} does not share cached answers with the other nodes: identical requests get different answers depending on the node"
                ),
                "client_rate_limiting" => format!(
                    "under load {node} answers 429 \"Too many requests\" where the other nodes serve: behind a balancer some requests fail and others do not"
                ),
                _ if mine[0].value == "false" => format!(
                    "auth.enabled false on {node} while the others enforce it: {node} answers /health without a token and 401 to every /api/u/ request"
                ),
                _ => format!(
                    "{node} enforces auth while the key differs elsewhere: tokens work on some nodes only"
                ),
            };
            out.push(finding(
                severity,
                node,
                code,
                format!("{node}'s aisbf.json differs: {keys}. {effect}"),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// session_secret.key
// ---------------------------------------------------------------------------

/// A SHA-256 of a session key. Compared only; never printed (Debug masks it).
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprint(***)")
    }
}

impl Fingerprint {
    /// The fingerprint of a key as AISBF reads it (`f.read().strip()`).
    pub fn of(key: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(key.trim_ascii()).into())
    }
}

/// What a node's `session_secret.key` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKey {
    Present(Fingerprint),
    /// No file: the node generates its own key at start.
    Missing,
    /// The file exists but cannot be read (the reason, never the content).
    Unreadable(String),
}

impl SessionKey {
    /// Reads and hashes the file at once; the key itself is not kept.
    pub fn read(path: &Path) -> SessionKey {
        match std::fs::read(path) {
            Ok(bytes) => SessionKey::Present(Fingerprint::of(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SessionKey::Missing,
            Err(e) => SessionKey::Unreadable(format!("cannot read {}: {e}", path.display())),
        }
    }
}

/// Pure: nodes whose session key differs from the majority's (or, with no
/// majority, from every other node's). A missing file counts as a key of its
/// own. Returns the findings and the nodes that agree with the majority.
pub fn compare_sessions(nodes: &[(String, SessionKey)]) -> (Vec<Finding>, Vec<String>) {
    let mut out = Vec::new();
    // Groups of nodes sharing one key; every missing file is a group of one.
    let mut groups: Vec<(Option<&Fingerprint>, Vec<&str>)> = Vec::new();
    for (node, key) in nodes {
        match key {
            SessionKey::Present(fp) => match groups.iter_mut().find(|(g, _)| *g == Some(fp)) {
                Some((_, members)) => members.push(node),
                None => groups.push((Some(fp), vec![node])),
            },
            SessionKey::Missing => groups.push((None, vec![node])),
            SessionKey::Unreadable(e) => out.push(finding(
                Severity::Warn,
                node,
                Code::NodeConfigUnreadable,
                format!("cannot compare {node}'s {SESSION_KEY_FILE}: {e}"),
            )),
        }
    }
    let total: usize = groups.iter().map(|(_, m)| m.len()).sum();
    if total < 2 {
        return (
            out,
            groups
                .into_iter()
                .flat_map(|(_, m)| m)
                .map(str::to_string)
                .collect(),
        );
    }
    let majority = groups.iter().position(|(_, m)| m.len() * 2 > total);
    let mut agreeing = Vec::new();
    for (i, (fp, members)) in groups.iter().enumerate() {
        if Some(i) == majority {
            agreeing.extend(members.iter().map(|m| m.to_string()));
            continue;
        }
        let others: Vec<&str> = match majority {
            Some(m) => groups[m].1.clone(),
            None => groups
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, (_, m))| m.iter().copied())
                .collect(),
        };
        let others = others.join(", ");
        for node in members {
            let what = match fp {
                Some(_) => format!("{node}'s {SESSION_KEY_FILE} differs from {others}"),
                None => format!(
                    "{node} has no {SESSION_KEY_FILE} next to its aisbf.json: it generates its own at start, which differs from {others}"
                ),
            };
            out.push(finding(
                Severity::Fail,
                node,
                Code::SessionSecretDiffers,
                format!(
                    "{what}: dashboard sessions signed by one node are refused by the other, so dashboard users are logged out on every other request behind the balancer"
                ),
            ));
        }
    }
    (out, agreeing)
}

/// Pure: every finding of the probe.
pub fn assess(
    expected: &BTreeMap<Key, String>,
    configs: &[(String, NodeConfig)],
    sessions: &[(String, SessionKey)],
) -> Vec<Finding> {
    let diffs = compare(expected, configs);
    let mut out = config_findings(&diffs);
    let (session_findings, _) = compare_sessions(sessions);
    out.extend(session_findings);
    for (node, differences) in &diffs {
        let flagged = out
            .iter()
            .any(|f| &f.subject == node && f.severity != Severity::Ok);
        if differences.is_empty() && !flagged {
            out.push(finding(
                Severity::Ok,
                node,
                Code::NodeFilesOk,
                format!(
                    "{node}'s aisbf.json agrees with the cluster and the other nodes (database, cache, response_cache, auth.enabled), and so does its {SESSION_KEY_FILE}"
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(json: &str) -> NodeConfig {
        aisbf_json::parse_config(json).unwrap()
    }

    const SHARED: &str = r#"{"database":{"type":"mysql","mysql_host":"db","mysql_database":"aisbf"},
        "cache":{"type":"redis","redis_host":"redis"},
        "response_cache":{"backend":"redis","redis_host":"redis"},
        "auth":{"enabled":true}}"#;

    fn with(patch: &str) -> NodeConfig {
        let mut v: serde_json::Value = serde_json::from_str(SHARED).unwrap();
        let p: serde_json::Value = serde_json::from_str(patch).unwrap();
        for (section, keys) in p.as_object().unwrap() {
            for (k, val) in keys.as_object().unwrap() {
                v[section][k] = val.clone();
            }
        }
        node(&v.to_string())
    }

    fn three(odd: NodeConfig) -> Vec<(String, NodeConfig)> {
        vec![
            ("aisbf-1".into(), node(SHARED)),
            ("aisbf-2".into(), odd),
            ("aisbf-3".into(), node(SHARED)),
        ]
    }

    fn described(diffs: &[(String, Vec<Difference>)], who: &str) -> Vec<String> {
        diffs
            .iter()
            .find(|(n, _)| n == who)
            .map(|(_, d)| d.iter().map(Difference::describe).collect())
            .unwrap_or_default()
    }

    struct Case {
        name: &'static str,
        expected: Vec<(Key, &'static str)>,
        nodes: Vec<(String, NodeConfig)>,
        /// (node, described difference) that must appear.
        want: Vec<(&'static str, &'static str)>,
        /// Nodes that must have no difference at all.
        clean: Vec<&'static str>,
    }

    #[test]
    fn comparison_table() {
        let cases = vec![
            Case {
                name: "identical nodes agree",
                expected: vec![],
                nodes: three(node(SHARED)),
                want: vec![],
                clean: vec!["aisbf-1", "aisbf-2", "aisbf-3"],
            },
            Case {
                name: "the odd node is named against the majority",
                expected: vec![],
                nodes: three(with(r#"{"response_cache":{"enabled":false}}"#)),
                want: vec![(
                    "aisbf-2",
                    "response_cache.enabled: false here, true on aisbf-1, aisbf-3",
                )],
                clean: vec!["aisbf-1", "aisbf-3"],
            },
            Case {
                name: "missing keys are AISBF's defaults: no auth.enabled means auth off",
                expected: vec![],
                nodes: three(node(
                    &SHARED.replace(r#""auth":{"enabled":true}"#, r#""auth":{}"#),
                )),
                want: vec![(
                    "aisbf-2",
                    "auth.enabled: false here, true on aisbf-1, aisbf-3",
                )],
                clean: vec!["aisbf-1", "aisbf-3"],
            },
            Case {
                name: "a default that equals the others' explicit value is no difference",
                expected: vec![],
                nodes: three(with(
                    r#"{"cache":{"redis_port":6379,"redis_db":0,"redis_key_prefix":"aisbf:"}}"#,
                )),
                want: vec![],
                clean: vec!["aisbf-1", "aisbf-2", "aisbf-3"],
            },
            Case {
                name: "the cluster's config wins over a wrong majority",
                expected: vec![("cache.db", "0")],
                nodes: vec![
                    ("aisbf-1".into(), with(r#"{"cache":{"redis_db":1}}"#)),
                    ("aisbf-2".into(), node(SHARED)),
                    ("aisbf-3".into(), with(r#"{"cache":{"redis_db":1}}"#)),
                ],
                want: vec![
                    (
                        "aisbf-1",
                        "cache.db: 1 here, 0 in the doctor's config and on aisbf-2",
                    ),
                    (
                        "aisbf-3",
                        "cache.db: 1 here, 0 in the doctor's config and on aisbf-2",
                    ),
                ],
                clean: vec!["aisbf-2"],
            },
            Case {
                name: "no node matches the cluster's config",
                expected: vec![("database.port", "3307")],
                nodes: three(node(SHARED)),
                want: vec![(
                    "aisbf-2",
                    "database.port: 3306 here, 3307 in the doctor's config (and on no node)",
                )],
                clean: vec![],
            },
            Case {
                name: "no majority flags every node with the split",
                expected: vec![],
                nodes: vec![
                    ("aisbf-1".into(), with(r#"{"response_cache":{"ttl":60}}"#)),
                    ("aisbf-2".into(), with(r#"{"response_cache":{"ttl":600}}"#)),
                ],
                want: vec![
                    (
                        "aisbf-1",
                        "response_cache.ttl: 60 here, no majority: 600 on aisbf-2",
                    ),
                    (
                        "aisbf-2",
                        "response_cache.ttl: 600 here, no majority: 60 on aisbf-1",
                    ),
                ],
                clean: vec![],
            },
            Case {
                name: "a node on sqlite differs by type, not by host",
                expected: vec![],
                nodes: three(node(&SHARED.replace(
                    r#"{"type":"mysql","mysql_host":"db","mysql_database":"aisbf"}"#,
                    r#"{"type":"sqlite"}"#,
                ))),
                want: vec![(
                    "aisbf-2",
                    "database.type: sqlite here, mysql on aisbf-1, aisbf-3",
                )],
                clean: vec!["aisbf-1", "aisbf-3"],
            },
            Case {
                name: "a present response_cache section without backend is memory",
                expected: vec![],
                nodes: three(node(&SHARED.replace(
                    r#""response_cache":{"backend":"redis","redis_host":"redis"}"#,
                    r#""response_cache":{"ttl":600}"#,
                ))),
                want: vec![(
                    "aisbf-2",
                    "response_cache.backend: memory here, redis on aisbf-1, aisbf-3",
                )],
                clean: vec!["aisbf-1", "aisbf-3"],
            },
        ];
        for case in cases {
            let expected: BTreeMap<Key, String> = case
                .expected
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect();
            let diffs = compare(&expected, &case.nodes);
            for (who, text) in &case.want {
                let got = described(&diffs, who);
                assert!(
                    got.iter().any(|g| g == text),
                    "{}: {who}: {got:?}",
                    case.name
                );
            }
            for who in &case.clean {
                assert!(
                    described(&diffs, who).is_empty(),
                    "{}: {who}: {:?}",
                    case.name,
                    described(&diffs, who)
                );
            }
            let flagged: usize = diffs.iter().map(|(_, d)| d.len()).sum();
            assert!(flagged >= case.want.len(), "{}", case.name);
        }
    }

    #[test]
    fn findings_pick_the_code_of_each_section_and_say_what_breaks() {
        let diffs = compare(
            &BTreeMap::new(),
            &three(with(
                r#"{"auth":{"enabled":false},"cache":{"redis_db":2},"database":{"mysql_port":3307},"response_cache":{"enabled":false}}"#,
            )),
        );
        let f = config_findings(&diffs);
        let codes: Vec<Code> = f.iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [
                Code::NodeDatabaseDiffers,
                Code::NodeCacheDiffers,
                Code::NodeResponseCacheDiffers,
                Code::NodeAuthDiffers
            ]
        );
        assert!(
            f.iter()
                .all(|f| f.subject == "aisbf-2" && f.severity == Severity::Fail)
        );
        assert!(
            f[3].message
                .contains("auth.enabled false on aisbf-2 while the others enforce it"),
            "{}",
            f[3].message
        );
        assert!(f[2].message.contains("upstream"), "{}", f[2].message);
        let ttl_only = config_findings(&compare(
            &BTreeMap::new(),
            &three(with(r#"{"response_cache":{"ttl":5}}"#)),
        ));
        assert_eq!(ttl_only.len(), 1);
        assert_eq!(ttl_only[0].severity, Severity::Warn);
    }

    fn tried(pattern: &[(&str, u16)]) -> SessionObservation {
        use crate::http::{Answer, Body};
        SessionObservation::Tried {
            issuer: pattern[0].0.into(),
            answers: pattern
                .iter()
                .map(|(n, status)| {
                    let body = if *status == 303 {
                        Body::Redirect {
                            location: "/dashboard/login".into(),
                        }
                    } else {
                        Body::Text(String::new())
                    };
                    (
                        n.to_string(),
                        Ok(Answer {
                            status: *status,
                            latency_ms: 1,
                            body,
                        }),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_session_refused_by_one_node_names_that_node_and_an_odd_issuer_names_the_issuer() {
        let subjects = |f: Vec<Finding>| -> Vec<(String, Code)> {
            f.into_iter().map(|f| (f.subject, f.code)).collect()
        };
        assert!(session_cross_check(&tried(&[("a", 200), ("b", 200), ("c", 200)])).is_empty());
        assert_eq!(
            subjects(session_cross_check(&tried(&[
                ("a", 200),
                ("b", 303),
                ("c", 200)
            ]))),
            [("b".to_string(), Code::DashboardSessionRefused)]
        );
        // The issuer is the odd one: every other node refuses its session.
        assert_eq!(
            subjects(session_cross_check(&tried(&[
                ("a", 200),
                ("b", 303),
                ("c", 303)
            ]))),
            [("a".to_string(), Code::DashboardSessionRefused)]
        );
        let failed = session_cross_check(&SessionObservation::LoginFailed {
            issuer: "a".into(),
            why: "303 without a session cookie".into(),
        });
        assert_eq!(
            (failed[0].code, failed[0].severity),
            (Code::DashboardLoginFailed, Severity::Warn)
        );
    }

    #[test]
    fn a_node_with_its_own_client_rate_limit_is_a_warning_that_names_the_limit() {
        let odd = with(
            r#"{"client_rate_limiting": {"enabled": true, "api": {"requests_per_minute": 10}}}"#,
        );
        let diffs = compare(&BTreeMap::new(), &three(odd));
        assert_eq!(
            described(&diffs, "aisbf-2"),
            [
                "client_rate_limiting: api 10/min 1000/h, general 120/min 3000/h here, off on aisbf-1, aisbf-3"
            ]
        );
        let f = config_findings(&diffs);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].code, f[0].severity),
            (Code::NodeRateLimitDiffers, Severity::Warn)
        );
        assert!(f[0].message.contains("429"), "{}", f[0].message);
    }

    #[test]
    fn the_cluster_config_names_database_cache_and_auth() {
        let config = crate::config::parse(
            r#"
[cluster]
name = "t"
user = "alice"
token = "t0k"
[[cluster.nodes]]
name = "aisbf-1"
url = "http://127.0.0.1:1"
[database]
url = "mysql://u:dbpass@LOCALHOST:3307/aisbf"
[cache]
url = "redis://:rpass@redis.lan:6380/2"
prefix = "aisbf:prod:"
response_prefix = "aisbf:prod:response:"
"#,
            &|_| None,
        )
        .unwrap();
        let e = expected(&config);
        assert_eq!(e["database.host"], "127.0.0.1");
        assert_eq!(e["database.port"], "3307");
        assert_eq!(e["cache.db"], "2");
        assert_eq!(e["response_cache.port"], "6380");
        assert_eq!(e["response_cache.prefix"], "aisbf:prod:response:");
        assert_eq!(e["auth.enabled"], "true");
        assert!(!format!("{e:?}").contains("pass"));
    }

    fn key(s: &str) -> SessionKey {
        SessionKey::Present(Fingerprint::of(s.as_bytes()))
    }

    #[test]
    fn session_keys_name_the_odd_node_and_never_the_key() {
        let (f, agreeing) = compare_sessions(&[
            ("aisbf-1".into(), key("k-one")),
            ("aisbf-2".into(), key("k-two")),
            ("aisbf-3".into(), key("k-one\n")),
        ]);
        assert_eq!(agreeing, ["aisbf-1", "aisbf-3"]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::SessionSecretDiffers);
        assert_eq!(f[0].subject, "aisbf-2");
        assert!(
            f[0].message.contains("differs from aisbf-1, aisbf-3"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("logged out on every other request"));
        assert!(!format!("{f:?}").contains("k-two"));
        assert_eq!(format!("{:?}", key("k-two")), "Present(Fingerprint(***))");
    }

    #[test]
    fn session_keys_missing_or_all_different() {
        let (f, _) = compare_sessions(&[
            ("aisbf-1".into(), key("k")),
            ("aisbf-2".into(), SessionKey::Missing),
            ("aisbf-3".into(), key("k")),
        ]);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("generates its own"),
            "{}",
            f[0].message
        );
        let (f, agreeing) = compare_sessions(&[
            ("aisbf-1".into(), key("a")),
            ("aisbf-2".into(), key("b")),
            ("aisbf-3".into(), SessionKey::Missing),
        ]);
        assert!(agreeing.is_empty());
        assert_eq!(f.len(), 3);
        assert!(
            f[0].message.contains("differs from aisbf-2, aisbf-3"),
            "{}",
            f[0].message
        );
        // Two missing files are two different generated keys.
        let (f, _) = compare_sessions(&[
            ("aisbf-1".into(), SessionKey::Missing),
            ("aisbf-2".into(), SessionKey::Missing),
        ]);
        assert_eq!(f.len(), 2);
        // One node alone has nothing to differ from.
        let (f, _) = compare_sessions(&[("aisbf-1".into(), key("a"))]);
        assert!(f.is_empty());
    }

    #[test]
    fn assess_gives_ok_only_to_nodes_without_any_difference() {
        let configs = three(with(r#"{"auth":{"enabled":false}}"#));
        let sessions = vec![
            ("aisbf-1".to_string(), key("a")),
            ("aisbf-2".to_string(), key("a")),
            ("aisbf-3".to_string(), key("b")),
        ];
        let f = assess(&BTreeMap::new(), &configs, &sessions);
        let ok: Vec<&str> = f
            .iter()
            .filter(|f| f.code == Code::NodeFilesOk)
            .map(|f| f.subject.as_str())
            .collect();
        assert_eq!(ok, ["aisbf-1"]);
    }
}
