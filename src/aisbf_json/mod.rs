//! A node's `aisbf.json`: only the parts the probes compare.
//!
//! AISBF 0.99.92 reads `database` (`type` sqlite or mysql, `sqlite_path`,
//! `mysql_host`/`mysql_port`/`mysql_database`), `cache` (`type`, `redis_host`,
//! `redis_port`, `redis_db`, `redis_key_prefix`), `response_cache` (the same
//! Redis keys plus `enabled`, `backend`, `ttl`) and `auth.enabled`. Missing keys
//! mean AISBF's defaults: SQLite in `~/.aisbf/aisbf.db`, cache type `sqlite`,
//! Redis at localhost:6379 db 0, prefixes `aisbf:` and `aisbf:response:`,
//! response cache enabled with TTL 600 s on backend `redis` when the section is
//! absent but `memory` when it is present without `backend`, auth disabled.
//! Parsing takes text; only [`load`] and [`load_config`] read the file.
//! Passwords are never kept: the parser reads only the keys above and skips
//! the others (passwords included) without copying them out of the text.
//!
//! The parts: this module (the views and reading files) and `parse` (the
//! text to a [`NodeConfig`], AISBF's defaults and coercions).

use std::path::Path;

use url::Url;

mod parse;

pub use parse::parse_config;

/// AISBF 0.99.92's default cache prefix.
pub const DEFAULT_CACHE_PREFIX: &str = "aisbf:";
/// AISBF 0.99.92's default response-cache prefix.
pub const DEFAULT_RESPONSE_PREFIX: &str = "aisbf:response:";

/// Which database a node (or the doctor's `[database]`) points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A SQLite file: private to the host that has it.
    Sqlite { path: String },
    /// A MySQL/MariaDB database (host lower-cased; `localhost` read as `127.0.0.1`).
    Mysql {
        host: String,
        port: u16,
        database: String,
    },
}

impl DbTarget {
    /// `mysql host:port/db` or `sqlite path`: no user, no password.
    pub fn describe(&self) -> String {
        match self {
            DbTarget::Sqlite { path } => format!("sqlite {path}"),
            DbTarget::Mysql {
                host,
                port,
                database,
            } => format!("mysql {host}:{port}/{database}"),
        }
    }

    /// The target named by a `mysql://`, `mariadb://` or `sqlite://` URL.
    pub fn from_url(raw: &str) -> Option<DbTarget> {
        if let Some(rest) = raw.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or_default();
            return Some(DbTarget::Sqlite {
                path: path.to_string(),
            });
        }
        if let Some(rest) = raw.strip_prefix("sqlite:") {
            let path = rest.split('?').next().unwrap_or_default();
            return Some(DbTarget::Sqlite {
                path: path.to_string(),
            });
        }
        let url = Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "mysql" | "mariadb") {
            return None;
        }
        Some(DbTarget::Mysql {
            host: normal_host(url.host_str().unwrap_or("localhost")),
            port: url.port().unwrap_or(3306),
            database: url.path().trim_start_matches('/').to_string(),
        })
    }
}

fn normal_host(h: &str) -> String {
    let h = h.trim().trim_start_matches('[').trim_end_matches(']');
    match h.to_ascii_lowercase().as_str() {
        "localhost" | "::1" => "127.0.0.1".to_string(),
        other => other.to_string(),
    }
}

/// What one node's aisbf.json says about its data layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData {
    pub database: DbTarget,
    /// `cache.type` (`redis`, `sqlite`, `memory`, ...); `None` when absent.
    pub cache_type: Option<String>,
    pub cache_prefix: String,
    /// `response_cache.backend`; `None` when absent.
    pub response_backend: Option<String>,
    pub response_prefix: String,
}

/// `cache` as AISBF uses it, its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// `type` (default `sqlite`: a private file cache).
    pub kind: String,
    pub host: String,
    pub port: u16,
    pub db: i64,
    pub prefix: String,
}

/// `response_cache` as AISBF uses it, its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseCacheConfig {
    pub enabled: bool,
    /// `backend`: `redis` when the section is absent, `memory` when it is
    /// present without one (AISBF's two code paths have different defaults).
    pub backend: String,
    pub host: String,
    pub port: u16,
    pub db: i64,
    pub prefix: String,
    pub ttl: u64,
}

/// What one node's aisbf.json says, for the whole-file comparison
/// (`check files`). [`NodeConfig::data`] is the part the db and cache probes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub database: DbTarget,
    pub cache: CacheConfig,
    pub response_cache: ResponseCacheConfig,
    /// `auth.enabled` (default false; read with Python's truthiness, as AISBF does).
    pub auth_enabled: bool,
    /// `client_rate_limiting` as people read it: `off`, or the per-client
    /// limits AISBF enforces (`api 60/min 1000/h, general 120/min 3000/h`).
    pub client_rate_limit: String,
    declared_cache_type: Option<String>,
    declared_response_backend: Option<String>,
}

impl NodeConfig {
    /// The data-layer view the db and cache probes compare.
    pub fn data(&self) -> NodeData {
        NodeData {
            database: self.database.clone(),
            cache_type: self.declared_cache_type.clone(),
            cache_prefix: self.cache.prefix.clone(),
            response_backend: self.declared_response_backend.clone(),
            response_prefix: self.response_cache.prefix.clone(),
        }
    }
}

/// Parses aisbf.json text into the data-layer view. Errors name the key and
/// never quote values.
pub fn parse(text: &str) -> Result<NodeData, String> {
    parse_config(text).map(|c| c.data())
}

/// Reads and parses a node's whole aisbf.json.
pub fn load_config(path: &Path) -> Result<NodeConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_config(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads and parses a node's aisbf.json.
pub fn load(path: &Path) -> Result<NodeData, String> {
    load_config(path).map(|c| c.data())
}
/// The aisbf.json of each of `nodes` that names one, in the order given.
pub fn load_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a crate::config::Node>,
) -> Vec<(String, Result<NodeData, String>)> {
    nodes
        .into_iter()
        .filter_map(|n| n.aisbf_json.as_ref().map(|p| (n.name.clone(), load(p))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_block_is_read_without_credentials() {
        let n = parse(
            r#"{"database":{"type":"mysql","mysql_host":"LocalHost","mysql_port":"3307",
                "mysql_user":"u","mysql_password":"pw","mysql_database":"aisbf"},
                "cache":{"type":"redis","redis_key_prefix":"aisbf:prod:"},
                "response_cache":{"backend":"redis","redis_key_prefix":"aisbf:prod:response:"}}"#,
        )
        .unwrap();
        assert_eq!(
            n.database,
            DbTarget::Mysql {
                host: "127.0.0.1".into(),
                port: 3307,
                database: "aisbf".into()
            }
        );
        assert_eq!(n.cache_prefix, "aisbf:prod:");
        assert_eq!(n.response_prefix, "aisbf:prod:response:");
        assert!(!format!("{n:?}").contains("pw"));
    }

    #[test]
    fn missing_sections_mean_aisbf_defaults() {
        let n = parse("{}").unwrap();
        assert!(matches!(n.database, DbTarget::Sqlite { .. }));
        assert_eq!(n.cache_prefix, DEFAULT_CACHE_PREFIX);
        assert_eq!(n.response_prefix, DEFAULT_RESPONSE_PREFIX);
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        assert!(parse("not json").is_err());
        assert!(parse("[]").is_err());
        assert!(parse(r#"{"database":{"type":"oracle"}}"#).is_err());
        assert!(parse(r#"{"database":{"type":"mysql","mysql_port":99999}}"#).is_err());
    }

    #[test]
    fn urls_name_the_same_target_as_aisbf_json() {
        assert_eq!(
            DbTarget::from_url("mysql://u:p@localhost/aisbf_h_1"),
            Some(DbTarget::Mysql {
                host: "127.0.0.1".into(),
                port: 3306,
                database: "aisbf_h_1".into()
            })
        );
        assert_eq!(
            DbTarget::from_url("sqlite:///var/a.db?mode=ro"),
            Some(DbTarget::Sqlite {
                path: "/var/a.db".into()
            })
        );
        assert_eq!(DbTarget::from_url("postgres://x/y"), None);
    }
}
