//! Configuration: TOML text in, a validated [`Config`] out.
//!
//! [`parse`] takes text and an environment lookup so every error case is a unit
//! test; only [`load`] touches the file system. Unknown keys, unset `${VARS}`
//! and invalid values fail at load time with one line naming file, key and
//! problem. Secrets become [`Secret`]s as soon as they are read.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::secret::{Redactor, Secret};

pub mod discord;
pub use discord::Discord;

/// Default location of the config file, relative to the working directory.
pub const DEFAULT_PATH: &str = "./config/aisbf-doctor.toml";

/// A config problem, already phrased for the one line a user sees.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}: {problem}")]
pub struct ConfigError {
    /// The config file (or `<text>` when parsed from memory).
    pub file: String,
    /// What is wrong, naming the key.
    pub problem: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub cluster: Cluster,
    pub database: Option<Database>,
    pub cache: Option<Cache>,
    pub routes: Option<Routes>,
    pub lb: Lb,
    /// `[store]`; `None` when the section is absent (the bot then uses the
    /// default SQLite file, and CLI runs are not recorded).
    pub store: Option<StoreConfig>,
    /// `[discord]`: the chat bot; `None` when the section is absent.
    pub discord: Option<Discord>,
    /// `[watch]`: the schedule `watch` (and `serve`) runs; `None` when absent.
    pub watch: Option<WatchConfig>,
    /// `[metrics]`: where the Prometheus endpoint listens; `None` when absent.
    pub metrics: Option<MetricsConfig>,
}

/// `[watch]`: probes run on a schedule, changes announced once.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Time between runs.
    pub every: std::time::Duration,
    /// Which probes each run covers.
    pub probes: Vec<crate::finding::ProbeKind>,
    /// Runs a new state must hold before it is announced.
    pub confirm: u32,
    /// How long the leader lease lasts without renewal.
    pub lease_ttl: std::time::Duration,
    /// Redis for the leader lease; `[cache] url` when not set; no lease (a
    /// single replica) when neither is.
    pub redis_url: Option<Secret>,
    /// How often an open follow-up is reminded in its incident thread.
    pub remind_every: std::time::Duration,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub listen: std::net::SocketAddr,
}

/// `[store]`: where runs, incidents and follow-ups are kept.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://path` or `mysql://...`; may hold a password.
    pub url: Secret,
}

/// `[lb]`: how the balancer probe samples the balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lb {
    /// Requests sent through the balancer, each on a fresh connection.
    pub requests: usize,
}

impl Default for Lb {
    fn default() -> Self {
        Self { requests: 12 }
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub user: String,
    pub token: Secret,
    pub global_token: Option<Secret>,
    pub balancer: Option<Url>,
    pub timeout_ms: u64,
    pub deadline_ms: u64,
    pub concurrency: usize,
    pub nodes: Vec<Node>,
    /// A dashboard user the doctor may log in as, to see whether a session one
    /// node issues is accepted by the others.
    pub dashboard: Option<DashboardLogin>,
}

/// `cluster.dashboard_user` / `cluster.dashboard_password`.
#[derive(Debug, Clone)]
pub struct DashboardLogin {
    pub user: String,
    pub password: Secret,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub url: Url,
    pub aisbf_json: Option<PathBuf>,
    /// Accept this node's TLS certificate without checking it (self-signed
    /// test nodes only). Off by default; never applies to other nodes.
    pub tls_insecure: bool,
}

#[derive(Debug, Clone)]
pub struct Database {
    /// `mysql://...` or `sqlite://...`; may carry a password, so it is a secret.
    pub url: Secret,
}

#[derive(Debug, Clone)]
pub struct Cache {
    pub url: Secret,
    pub prefix: String,
    pub response_prefix: String,
    pub other_environments: Vec<OtherEnvironment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherEnvironment {
    pub name: String,
    pub prefix: String,
}

#[derive(Debug, Clone)]
pub struct Routes {
    pub smoke: Vec<String>,
    pub prompt: String,
    pub concurrency: usize,
}

impl Config {
    /// Every secret value in this config, for the [`Redactor`].
    pub fn secrets(&self) -> Vec<Secret> {
        let mut out = vec![self.cluster.token.clone()];
        out.extend(self.cluster.global_token.clone());
        out.extend(self.cluster.dashboard.as_ref().map(|d| d.password.clone()));
        if let Some(db) = &self.database {
            out.push(db.url.clone());
            out.extend(url_password(db.url.expose()));
        }
        if let Some(cache) = &self.cache {
            out.push(cache.url.clone());
            out.extend(url_password(cache.url.expose()));
        }
        if let Some(d) = &self.discord {
            out.push(d.token.clone());
        }
        if let Some(store) = &self.store {
            out.push(store.url.clone());
            out.extend(url_password(store.url.expose()));
        }
        if let Some(url) = self.watch.as_ref().and_then(|w| w.redis_url.as_ref()) {
            out.push(url.clone());
            out.extend(url_password(url.expose()));
        }
        out
    }

    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.secrets())
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.cluster.nodes.iter().find(|n| n.name == name)
    }
}

fn url_password(raw: &str) -> Option<Secret> {
    let url = Url::parse(raw).ok()?;
    let password = url.password()?;
    let decoded = percent_decode(password);
    Some(Secret::new(decoded))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

// ---- raw, as written in TOML ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    cluster: RawCluster,
    database: Option<RawDatabase>,
    cache: Option<RawCache>,
    routes: Option<RawRoutes>,
    lb: Option<RawLb>,
    store: Option<RawStore>,
    discord: Option<discord::RawDiscord>,
    watch: Option<RawWatch>,
    metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    #[serde(default = "default_every")]
    every: String,
    #[serde(default = "default_watch_probes")]
    probes: Vec<String>,
    #[serde(default = "default_confirm")]
    confirm: u32,
    #[serde(default = "default_lease_ttl")]
    lease_ttl: String,
    redis_url: Option<String>,
    #[serde(default = "default_remind_every")]
    remind_every: String,
}

fn default_every() -> String {
    "60s".into()
}
fn default_watch_probes() -> Vec<String> {
    vec!["health".into()]
}
fn default_confirm() -> u32 {
    2
}
fn default_lease_ttl() -> String {
    "15s".into()
}
fn default_remind_every() -> String {
    "24h".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLb {
    #[serde(default = "default_lb_requests")]
    requests: usize,
}

fn default_lb_requests() -> usize {
    12
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    user: String,
    token: String,
    global_token: Option<String>,
    balancer: Option<String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    deadline_ms: Option<u64>,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    /// A dashboard login for the session cross-check of `check files`.
    dashboard_user: Option<String>,
    dashboard_password: Option<String>,
    nodes: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: String,
    url: String,
    aisbf_json: Option<PathBuf>,
    #[serde(default)]
    tls_insecure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    url: String,
    #[serde(default = "default_cache_prefix")]
    prefix: String,
    #[serde(default = "default_response_prefix")]
    response_prefix: String,
    #[serde(default)]
    other_environments: Vec<RawOtherEnvironment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOtherEnvironment {
    name: String,
    prefix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoutes {
    #[serde(default)]
    smoke: Vec<String>,
    #[serde(default = "default_prompt")]
    prompt: String,
    #[serde(default = "default_route_concurrency")]
    concurrency: usize,
}

fn default_timeout_ms() -> u64 {
    5000
}
/// Nodes probed at once. Sized so 1,000 nodes answering in 200 ms finish in
/// about 1 s (see the fan-out benchmark in README).
fn default_concurrency() -> usize {
    256
}
fn default_cache_prefix() -> String {
    "aisbf:".into()
}
fn default_response_prefix() -> String {
    "aisbf:response:".into()
}
fn default_prompt() -> String {
    "smoke".into()
}
fn default_route_concurrency() -> usize {
    8
}

/// Reads and parses the config file at `path`, resolving `${VARS}` from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = read_capped(path).map_err(|problem| ConfigError {
        file: file.clone(),
        problem,
    })?;
    parse_named(&text, &file, &|name| std::env::var(name).ok())
}

/// Parses `"60s"`, `"5m"`, `"1h"`, `"500ms"` (humantime).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// A config file is small: anything larger is a wrong path, not a config.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads a regular file of at most [`MAX_CONFIG_BYTES`]: `/dev/zero` would be
/// read until memory runs out and a FIFO would block for ever.
fn read_capped(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read config file: {}", io_reason(&e)))?;
    if !meta.is_file() {
        return Err("cannot read config file: not a regular file".into());
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "cannot read config file: {} bytes is more than the {MAX_CONFIG_BYTES} a config may have",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read config file: {}", io_reason(&e)))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read config file: {}", io_reason(&e)))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "cannot read config file: more than the {MAX_CONFIG_BYTES} bytes a config may have"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "cannot read config file: not UTF-8 text".into())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "no such file (pass --config PATH or set AISBF_DOCTOR_CONFIG)".into()
        }
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Parses config text; `env` resolves `${NAME}` references.
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    parse_named(text, "<text>", env)
}

fn parse_named(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let err = |problem: String| ConfigError {
        file: file.to_string(),
        problem,
    };
    let mut value: toml::Value = toml::from_str(text).map_err(|e| err(syntax_problem(text, &e)))?;
    interpolate(&mut value, &mut Vec::new(), env).map_err(err)?;
    let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = inner.lines().next().unwrap_or_default().to_string();
        if path.is_empty() || path == "." {
            err(inner)
        } else {
            err(format!("key `{path}`: {inner}"))
        }
    })?;
    validate(raw).map_err(err)
}

fn syntax_problem(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            // Bytes, not `str` slicing: the span may fall inside a character.
            let end = span.start.min(text.len());
            let line = text.as_bytes()[..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            match key_on_line(text, line) {
                Some(key) => format!("key `{key}`: TOML syntax error at line {line}: {message}"),
                None => format!("TOML syntax error at line {line}: {message}"),
            }
        }
        None => format!("TOML syntax error: {message}"),
    }
}

/// The dotted key assigned on `line` (1-based), with the table it sits in, for
/// errors the TOML parser reports by position only (e.g. an integer that does
/// not fit in 64 bits).
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let mut table = String::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.starts_with('[') {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
        if i + 1 == line {
            let (key, _) = l.split_once('=')?;
            let key = key.trim().trim_matches('"');
            if key.is_empty() || key.starts_with('[') {
                return None;
            }
            return Some(if table.is_empty() {
                key.to_string()
            } else {
                format!("{table}.{key}")
            });
        }
    }
    None
}

/// Replaces `${NAME}` in every string with the variable's value.
fn interpolate(
    value: &mut toml::Value,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match value {
        toml::Value::String(s) => {
            *s = expand(s, env).map_err(|e| match e {
                Unexpanded::Unset(var) => format!(
                    "key `{}`: environment variable {var} is not set",
                    path.join(".")
                ),
                Unexpanded::Unclosed => {
                    format!("key `{}`: `${{` without its closing `}}`", path.join("."))
                }
            })?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let last = path.pop().unwrap_or_default();
                path.push(format!("{last}[{i}]"));
                interpolate(item, path, env)?;
                path.pop();
                path.push(last);
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                path.push(k.clone());
                interpolate(v, path, env)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Why a `${...}` reference could not be expanded.
enum Unexpanded {
    Unset(String),
    /// `${` without its `}`: never sent on as a literal token.
    Unclosed,
}

/// Expands `${NAME}`.
fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Unexpanded> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(Unexpanded::Unclosed);
        };
        let name = &after[..end];
        match env(name) {
            Some(v) => out.push_str(&v),
            None => return Err(Unexpanded::Unset(name.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Ten minutes: longer per-request timeouts are a typo, not a need.
const MAX_TIMEOUT_MS: u64 = 600_000;
/// An hour for a whole run.
const MAX_DEADLINE_MS: u64 = 3_600_000;

fn validate(raw: RawConfig) -> Result<Config, String> {
    let c = raw.cluster;
    non_empty("cluster.name", &c.name)?;
    non_empty("cluster.user", &c.user)?;
    if c.user.contains('/') || c.user.contains(char::is_whitespace) {
        return Err("key `cluster.user`: must be a plain AISBF username (no '/' or spaces)".into());
    }
    non_empty("cluster.token", &c.token)?;
    sendable("cluster.token", &c.token)?;
    if let Some(t) = &c.global_token {
        sendable("cluster.global_token", t)?;
    }
    if c.timeout_ms == 0 || c.timeout_ms > MAX_TIMEOUT_MS {
        return Err(format!(
            "key `cluster.timeout_ms`: must be between 1 and {MAX_TIMEOUT_MS}"
        ));
    }
    if c.concurrency == 0 {
        return Err("key `cluster.concurrency`: must be greater than 0".into());
    }
    if c.nodes.is_empty() {
        return Err("key `cluster.nodes`: at least one [[cluster.nodes]] entry is required".into());
    }
    let mut seen = HashSet::new();
    let mut nodes = Vec::with_capacity(c.nodes.len());
    for (i, n) in c.nodes.into_iter().enumerate() {
        let key = format!("cluster.nodes[{i}]");
        non_empty(&format!("{key}.name"), &n.name)?;
        if n.name.trim() != n.name || n.name.chars().any(crate::inert::is_active) {
            return Err(format!(
                "key `{key}.name`: {:?} has surrounding whitespace or a control character",
                n.name
            ));
        }
        if !seen.insert(n.name.clone()) {
            return Err(format!(
                "key `{key}.name`: duplicate node name {:?}",
                n.name
            ));
        }
        let url = http_url(&format!("{key}.url"), &n.url)?;
        nodes.push(Node {
            name: n.name,
            url,
            aisbf_json: n.aisbf_json,
            tls_insecure: n.tls_insecure,
        });
    }
    let dashboard = match (c.dashboard_user, c.dashboard_password) {
        (None, None) => None,
        (Some(user), Some(password)) => {
            non_empty("cluster.dashboard_user", &user)?;
            sendable("cluster.dashboard_password", &password)?;
            Some(DashboardLogin {
                user,
                password: Secret::new(password),
            })
        }
        _ => {
            return Err(
                "key `cluster.dashboard_user`: give both dashboard_user and dashboard_password, or neither"
                    .into(),
            );
        }
    };
    let balancer = c
        .balancer
        .map(|b| http_url("cluster.balancer", &b))
        .transpose()?;
    let deadline_ms = c.deadline_ms.unwrap_or(c.timeout_ms * 4 + 1000);
    if deadline_ms > MAX_DEADLINE_MS {
        return Err(format!(
            "key `cluster.deadline_ms`: must be at most {MAX_DEADLINE_MS}"
        ));
    }
    if deadline_ms < c.timeout_ms {
        return Err("key `cluster.deadline_ms`: must be at least cluster.timeout_ms".into());
    }
    let database = raw
        .database
        .map(|d| {
            let scheme = d.url.split("://").next().unwrap_or_default();
            if !matches!(scheme, "mysql" | "mariadb" | "sqlite") {
                return Err(
                    "key `database.url`: must start with mysql://, mariadb:// or sqlite://"
                        .to_string(),
                );
            }
            Ok(Database {
                url: Secret::new(d.url),
            })
        })
        .transpose()?;
    let cache = raw.cache.map(validate_cache).transpose()?;
    let routes = raw
        .routes
        .map(|r| {
            for (i, route) in r.smoke.iter().enumerate() {
                non_empty(&format!("routes.smoke[{i}]"), route)?;
            }
            if r.concurrency == 0 {
                return Err("key `routes.concurrency`: must be greater than 0".to_string());
            }
            Ok(Routes {
                smoke: r.smoke,
                prompt: r.prompt,
                concurrency: r.concurrency,
            })
        })
        .transpose()?;
    let lb = match raw.lb {
        Some(l) if l.requests == 0 || l.requests > 1000 => {
            return Err("key `lb.requests`: must be between 1 and 1000".into());
        }
        Some(l) => Lb {
            requests: l.requests,
        },
        None => Lb::default(),
    };
    let store = raw
        .store
        .map(|st| {
            let scheme = st.url.split("://").next().unwrap_or_default();
            if !matches!(scheme, "sqlite" | "mysql" | "mariadb") {
                return Err(
                    "key `store.url`: must start with sqlite://, mysql:// or mariadb://"
                        .to_string(),
                );
            }
            Ok(StoreConfig {
                url: Secret::new(st.url),
            })
        })
        .transpose()?;
    let cache_url = cache.as_ref().map(|c| c.url.clone());
    let watch = raw
        .watch
        .map(|w| validate_watch(w, cache_url))
        .transpose()?;
    let metrics = raw
        .metrics
        .map(|m| {
            m.listen
                .parse::<std::net::SocketAddr>()
                .map(|listen| MetricsConfig { listen })
                .map_err(|_| {
                    format!(
                        "key `metrics.listen`: must be an address and port like \"127.0.0.1:9464\", got {:?}",
                        m.listen
                    )
                })
        })
        .transpose()?;
    let discord = raw.discord.map(discord::validate).transpose()?;
    Ok(Config {
        lb,
        store,
        watch,
        metrics,
        discord,
        cluster: Cluster {
            name: c.name,
            user: c.user,
            token: Secret::new(c.token),
            global_token: c.global_token.filter(|t| !t.is_empty()).map(Secret::new),
            balancer,
            timeout_ms: c.timeout_ms,
            deadline_ms,
            concurrency: c.concurrency,
            nodes,
            dashboard,
        },
        database,
        cache,
        routes,
    })
}

fn validate_watch(w: RawWatch, cache_url: Option<Secret>) -> Result<WatchConfig, String> {
    let duration = |key: &str, raw: &str| {
        let d = parse_duration(raw).map_err(|e| format!("key `watch.{key}`: {e}"))?;
        if d.is_zero() {
            return Err(format!("key `watch.{key}`: must be greater than 0"));
        }
        Ok(d)
    };
    let every = duration("every", &w.every)?;
    let lease_ttl = duration("lease_ttl", &w.lease_ttl)?;
    let remind_every = duration("remind_every", &w.remind_every)?;
    if lease_ttl < std::time::Duration::from_millis(300) {
        return Err("key `watch.lease_ttl`: must be at least 300ms".into());
    }
    if w.probes.is_empty() {
        return Err("key `watch.probes`: name at least one probe".into());
    }
    let mut probes = Vec::with_capacity(w.probes.len());
    for (i, name) in w.probes.iter().enumerate() {
        let Some(kind) = crate::finding::ProbeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
        else {
            let all: Vec<&str> = crate::finding::ProbeKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect();
            return Err(format!(
                "key `watch.probes[{i}]`: unknown probe {name:?}; one of: {}",
                all.join(", ")
            ));
        };
        if !probes.contains(&kind) {
            probes.push(kind);
        }
    }
    if w.confirm == 0 || w.confirm > 100 {
        return Err("key `watch.confirm`: must be between 1 and 100".into());
    }
    let redis_url = match w.redis_url {
        Some(u) => {
            let scheme = u.split("://").next().unwrap_or_default();
            if !matches!(scheme, "redis" | "rediss") {
                return Err("key `watch.redis_url`: must start with redis:// or rediss://".into());
            }
            Some(Secret::new(u))
        }
        None => cache_url,
    };
    Ok(WatchConfig {
        every,
        probes,
        confirm: w.confirm,
        lease_ttl,
        redis_url,
        remind_every,
    })
}

/// AISBF clears a prefix with `KEYS prefix*`: a `*` inside the prefix would
/// match other environments' keys, and `cache flush` refuses such a prefix, so
/// it is refused here, at load, instead of on every flush. (`?` and `[...]`
/// are matched literally by `cache flush`, which escapes them.)
fn plain_prefix(key: &str, prefix: &str) -> Result<(), String> {
    if prefix.contains('*') {
        return Err(format!(
            "key `{key}`: {prefix:?} contains the glob character '*'; a Redis prefix must be plain text"
        ));
    }
    Ok(())
}

fn validate_cache(c: RawCache) -> Result<Cache, String> {
    let scheme = c.url.split("://").next().unwrap_or_default();
    if !matches!(scheme, "redis" | "rediss") {
        return Err("key `cache.url`: must start with redis:// or rediss://".into());
    }
    non_empty("cache.prefix", &c.prefix)?;
    non_empty("cache.response_prefix", &c.response_prefix)?;
    plain_prefix("cache.prefix", &c.prefix)?;
    plain_prefix("cache.response_prefix", &c.response_prefix)?;
    let mut names = BTreeMap::new();
    for (i, env) in c.other_environments.iter().enumerate() {
        non_empty(&format!("cache.other_environments[{i}].name"), &env.name)?;
        non_empty(
            &format!("cache.other_environments[{i}].prefix"),
            &env.prefix,
        )?;
        plain_prefix(
            &format!("cache.other_environments[{i}].prefix"),
            &env.prefix,
        )?;
        if names.insert(env.name.clone(), i).is_some() {
            return Err(format!(
                "key `cache.other_environments[{i}].name`: duplicate environment {:?}",
                env.name
            ));
        }
    }
    Ok(Cache {
        url: Secret::new(c.url),
        prefix: c.prefix,
        response_prefix: c.response_prefix,
        other_environments: c
            .other_environments
            .into_iter()
            .map(|e| OtherEnvironment {
                name: e.name,
                prefix: e.prefix,
            })
            .collect(),
    })
}

fn non_empty(key: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("key `{key}`: must not be empty"))
    } else {
        Ok(())
    }
}

/// A credential goes into an HTTP header as it is: AISBF compares it byte for
/// byte, and a newline cannot be sent at all. A token read from a file usually
/// ends in a newline; say so at load time rather than as "node unreachable".
fn sendable(key: &str, value: &str) -> Result<(), String> {
    let describe = |c: char| match c {
        '\n' => "a newline".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        ' ' => "a space".to_string(),
        c => format!("the character U+{:04X}", u32::from(c)),
    };
    if let Some(c) = value
        .chars()
        .next_back()
        .filter(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("key `{key}`: ends with {}: strip it", describe(c)));
    }
    if let Some(c) = value
        .chars()
        .next()
        .filter(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "key `{key}`: starts with {}: strip it",
            describe(c)
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "key `{key}`: contains {} (a control character cannot be sent in an HTTP header)",
            describe(c)
        ));
    }
    Ok(())
}

fn http_url(key: &str, raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("key `{key}`: invalid URL {raw:?}: {e}"))?;
    // The URL parser reads `http:///host` as `http://host/`: an empty
    // authority is a typo, not a host.
    let authority = raw.split_once("://").map_or("", |(_, rest)| rest);
    if authority.is_empty() || authority.starts_with('/') {
        return Err(format!("key `{key}`: URL {raw:?} has no host"));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "key `{key}`: URL must be http:// or https://, got {raw:?}"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("key `{key}`: URL has no host: {raw:?}"));
    }
    if url.password().is_some() || !url.username().is_empty() {
        return Err(format!(
            "key `{key}`: put credentials in token fields, not in the URL"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[cluster]
name = "prod"
user = "alice"
token = "${AISBF_TOKEN}"
[[cluster.nodes]]
name = "aisbf-1"
url = "http://127.0.0.1:17765"
"#;

    fn env(name: &str) -> Option<String> {
        (name == "AISBF_TOKEN").then(|| "tok-secret".to_string())
    }

    fn problem(text: &str) -> String {
        parse(text, &env)
            .expect_err("config should be rejected")
            .problem
    }

    #[test]
    fn minimal_config_parses_with_defaults() {
        let c = parse(MINIMAL, &env).expect("valid");
        assert_eq!(c.cluster.token.expose(), "tok-secret");
        assert_eq!(c.cluster.timeout_ms, 5000);
        assert_eq!(c.cluster.nodes[0].url.as_str(), "http://127.0.0.1:17765/");
        assert!(c.database.is_none());
    }

    #[test]
    fn every_parses_human_durations() {
        assert_eq!(
            parse_duration("60s"),
            Ok(std::time::Duration::from_secs(60))
        );
        assert_eq!(
            parse_duration("5m"),
            Ok(std::time::Duration::from_secs(300))
        );
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn odd_config_values_are_refused_with_one_line_naming_the_key() {
        let cases: &[(String, &str)] = &[
            (
                MINIMAL.replace(
                    "name = \"prod\"",
                    "name = \"prod\"\ntimeout_ms = 99999999999999999999999",
                ),
                "key `cluster.timeout_ms`: TOML syntax error at line 4",
            ),
            (
                MINIMAL.replace("${AISBF_TOKEN}", "${AISBF_TOKEN"),
                "key `cluster.token`: `${` without its closing `}`",
            ),
            (
                format!("{MINIMAL}[[cluster.nodes]]\nname = \" aisbf-1 \"\nurl = \"http://x:1\"\n"),
                "key `cluster.nodes[1].name`: \" aisbf-1 \" has surrounding whitespace",
            ),
            (
                MINIMAL.replace("http://127.0.0.1:17765", "http:///nohost"),
                "key `cluster.nodes[0].url`: URL \"http:///nohost\" has no host",
            ),
            (
                format!(
                    "{MINIMAL}[cache]\nurl = \"redis://127.0.0.1:6379\"\nprefix = \"aisbf:*\"\n"
                ),
                "key `cache.prefix`: \"aisbf:*\" contains the glob character '*'",
            ),
        ];
        for (text, want) in cases {
            let got = problem(text);
            assert!(got.starts_with(want), "{want}\n got: {got}");
            assert!(!got.contains('\n'), "{got}");
        }
    }

    #[test]
    fn a_config_path_that_is_not_a_small_regular_file_is_refused_without_reading_it() {
        for path in ["/dev/zero", "/"] {
            let e = load(Path::new(path)).expect_err(path);
            assert!(
                e.problem.contains("not a regular file"),
                "{path}: {}",
                e.problem
            );
        }
        let dir = tempfile::tempdir().expect("dir");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = load(&fifo).expect_err("fifo");
            assert!(e.problem.contains("not a regular file"), "{}", e.problem);
        }
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; 2 * 1024 * 1024]).expect("write");
        let e = load(&big).expect_err("big");
        assert!(e.problem.contains("more than the"), "{}", e.problem);
    }

    #[test]
    fn a_token_that_cannot_be_sent_as_it_is_is_refused_at_load_naming_the_problem() {
        let with_token = |t: &'static str| {
            let env = move |name: &str| (name == "AISBF_TOKEN").then(|| t.to_string());
            parse(MINIMAL, &env)
                .expect_err("token should be refused")
                .problem
        };
        assert_eq!(
            with_token("tok-secret\n"),
            "key `cluster.token`: ends with a newline: strip it"
        );
        assert_eq!(
            with_token("tok-secret "),
            "key `cluster.token`: ends with a space: strip it"
        );
        assert_eq!(
            with_token("\ttok-secret"),
            "key `cluster.token`: starts with a tab: strip it"
        );
        assert!(
            with_token("tok\u{7}secret").contains("contains the character U+0007"),
            "{}",
            with_token("tok\u{7}secret")
        );
        let global = MINIMAL.replace(
            "token = \"${AISBF_TOKEN}\"",
            "token = \"${AISBF_TOKEN}\"\nglobal_token = \"g\\r\"",
        );
        assert_eq!(
            problem(&global),
            "key `cluster.global_token`: ends with a carriage return: strip it"
        );
    }

    #[test]
    fn config_errors_name_the_key_and_the_problem() {
        let cases: &[(&str, &str)] = &[
            (&MINIMAL.replace("user = ", "usr = "), "unknown field `usr`"),
            (
                &MINIMAL.replace("${AISBF_TOKEN}", "${NOPE_UNSET}"),
                "key `cluster.token`: environment variable NOPE_UNSET is not set",
            ),
            (
                &format!("{MINIMAL}[[cluster.nodes]]\nname = \"aisbf-1\"\nurl = \"http://x:1\"\n"),
                "key `cluster.nodes[1].name`: duplicate node name \"aisbf-1\"",
            ),
            (
                &MINIMAL.replace("http://127.0.0.1:17765", "not a url"),
                "key `cluster.nodes[0].url`: invalid URL",
            ),
            (
                &MINIMAL.replace("http://127.0.0.1:17765", "ftp://host/x"),
                "must be http:// or https://",
            ),
            (
                &MINIMAL.replace("name = \"prod\"", "name = "),
                "TOML syntax error at line 3",
            ),
            (
                &format!("{MINIMAL}[database]\nurl = \"postgres://x\"\n"),
                "key `database.url`",
            ),
            (
                &format!("{MINIMAL}[cluster.extra]\n"),
                "unknown field `extra`",
            ),
            (
                &MINIMAL.replace("user = \"alice\"", "user = 5"),
                "key `cluster.user`",
            ),
        ];
        for (text, expected) in cases {
            let p = problem(text);
            assert!(p.contains(expected), "expected {expected:?} in {p:?}");
            assert!(!p.contains('\n'), "error must be one line: {p:?}");
        }
    }

    #[test]
    fn unknown_key_error_names_its_path() {
        let p = problem(&MINIMAL.replace("url = \"http", "ur = \"http"));
        assert!(p.contains("cluster.nodes[0]"), "{p}");
        assert!(p.contains("unknown field `ur`"), "{p}");
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let e = load(Path::new("/nonexistent/aisbf-doctor.toml")).expect_err("missing");
        assert_eq!(e.file, "/nonexistent/aisbf-doctor.toml");
        assert!(e.problem.contains("no such file"));
    }

    #[test]
    fn secrets_include_url_passwords() {
        let text = format!("{MINIMAL}[database]\nurl = \"mysql://ro:p%40ss@db:3306/aisbf\"\n");
        let c = parse(&text, &env).expect("valid");
        let r = c.redactor();
        assert_eq!(r.scrub("pw is p@ss and tok-secret"), "pw is *** and ***");
    }

    #[test]
    fn watch_section_defaults_and_falls_back_to_the_cache_url() {
        let text = format!(
            "{MINIMAL}[cache]\nurl = \"redis://127.0.0.1:6379/0\"\n[watch]\nprobes = [\"health\", \"token\"]\n[metrics]\nlisten = \"127.0.0.1:9464\"\n"
        );
        let c = parse(&text, &env).expect("valid");
        let w = c.watch.expect("watch");
        assert_eq!(w.every, std::time::Duration::from_secs(60));
        assert_eq!(w.confirm, 2);
        assert_eq!(w.lease_ttl, std::time::Duration::from_secs(15));
        assert_eq!(
            w.probes,
            vec![
                crate::finding::ProbeKind::Health,
                crate::finding::ProbeKind::Token
            ]
        );
        assert_eq!(
            w.redis_url.map(|u| u.expose().to_string()).as_deref(),
            Some("redis://127.0.0.1:6379/0")
        );
        assert_eq!(
            c.metrics.expect("metrics").listen.to_string(),
            "127.0.0.1:9464"
        );
    }

    #[test]
    fn watch_and_metrics_errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            (
                "[watch]\nprobes = [\"helth\"]\n",
                "key `watch.probes[0]`: unknown probe \"helth\"",
            ),
            ("[watch]\nevery = \"soon\"\n", "key `watch.every`"),
            ("[watch]\nconfirm = 0\n", "key `watch.confirm`"),
            ("[watch]\nlease_ttl = \"1ms\"\n", "key `watch.lease_ttl`"),
            (
                "[watch]\nredis_url = \"http://x\"\n",
                "key `watch.redis_url`",
            ),
            ("[watch]\nevry = \"1s\"\n", "unknown field `evry`"),
            (
                "[metrics]\nlisten = \"localhost\"\n",
                "key `metrics.listen`",
            ),
        ];
        for (extra, expected) in cases {
            let p = problem(&format!("{MINIMAL}{extra}"));
            assert!(p.contains(expected), "expected {expected:?} in {p:?}");
        }
    }

    #[test]
    fn cache_section_defaults_match_aisbf() {
        let text = format!("{MINIMAL}[cache]\nurl = \"redis://127.0.0.1:6379/0\"\n");
        let c = parse(&text, &env).expect("valid");
        let cache = c.cache.expect("cache");
        assert_eq!(cache.prefix, "aisbf:");
        assert_eq!(cache.response_prefix, "aisbf:response:");
    }
}
