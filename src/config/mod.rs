//! Configuration: TOML text in, a validated [`Config`] out.
//!
//! [`parse`] takes text and an environment lookup so every error case is a unit
//! test; only [`load`] touches the file system ([`file`]). The steps: TOML
//! syntax, `${VARS}` ([`env`]), the shapes as written ([`raw`]), then the
//! checks ([`validate`]). Unknown keys, unset `${VARS}` and invalid values fail
//! at load time with one line naming file, key and problem. Secrets become
//! [`Secret`]s as soon as they are read.

use std::path::{Path, PathBuf};

use url::Url;

use crate::secret::{Redactor, Secret};

mod checks;
pub mod discord;
mod duration;
mod env;
mod file;
mod raw;
pub mod slack;
pub mod starter;
#[cfg(test)]
mod testing;
mod validate;

pub use discord::Discord;
pub use slack::Slack;

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
    /// `[slack]`: the Slack app; `None` when the section is absent.
    pub slack: Option<Slack>,
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
        if let Some(s) = &self.slack {
            out.extend(s.secrets());
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

/// Reads and parses the config file at `path`, resolving `${VARS}` from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = file::read_capped(path).map_err(|problem| ConfigError {
        file: file.clone(),
        problem,
    })?;
    parse_named(&text, &file, &|name| std::env::var(name).ok())
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
    env::interpolate(&mut value, &mut Vec::new(), env).map_err(err)?;
    let raw: raw::RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = inner.lines().next().unwrap_or_default().to_string();
        if path.is_empty() || path == "." {
            err(inner)
        } else {
            err(format!("key `{path}`: {inner}"))
        }
    })?;
    validate::validate(raw).map_err(err)
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

#[cfg(test)]
mod tests {
    use super::testing::{MINIMAL, env, problem};
    use super::*;

    #[test]
    fn minimal_config_parses_with_defaults() {
        let c = parse(MINIMAL, &env).expect("valid");
        assert_eq!(c.cluster.token.expose(), "tok-secret");
        assert_eq!(c.cluster.timeout_ms, 5000);
        assert_eq!(c.cluster.nodes[0].url.as_str(), "http://127.0.0.1:17765/");
        assert!(c.database.is_none());
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
    fn secrets_include_url_passwords() {
        let text = format!("{MINIMAL}[database]\nurl = \"mysql://ro:p%40ss@db:3306/aisbf\"\n");
        let c = parse(&text, &env).expect("valid");
        let r = c.redactor();
        assert_eq!(r.scrub("pw is p@ss and tok-secret"), "pw is *** and ***");
    }
}
