//! A node's `aisbf.json`: only the parts the data-layer probes compare.
//!
//! AISBF reads `database` (`type` sqlite or mysql, `sqlite_path`,
//! `mysql_host`/`mysql_port`/`mysql_database`), `cache.redis_key_prefix` and
//! `response_cache.redis_key_prefix`. Missing sections mean AISBF's defaults
//! (SQLite in `~/.aisbf/aisbf.db`, prefixes `aisbf:` and `aisbf:response:`).
//! Parsing takes text; only [`load`] reads the file. Passwords are never kept.

use std::path::Path;

use serde_json::Value;
use url::Url;

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

/// Parses aisbf.json text. Errors name the key and never quote values.
pub fn parse(text: &str) -> Result<NodeData, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let database = match v.get("database") {
        None | Some(Value::Null) => DbTarget::Sqlite {
            path: "~/.aisbf/aisbf.db".into(),
        },
        Some(db) => {
            let kind = db.get("type").and_then(Value::as_str).unwrap_or("sqlite");
            match kind.to_ascii_lowercase().as_str() {
                "sqlite" => DbTarget::Sqlite {
                    path: db
                        .get("sqlite_path")
                        .and_then(Value::as_str)
                        .unwrap_or("~/.aisbf/aisbf.db")
                        .to_string(),
                },
                "mysql" | "mariadb" => DbTarget::Mysql {
                    host: normal_host(
                        db.get("mysql_host")
                            .and_then(Value::as_str)
                            .unwrap_or("localhost"),
                    ),
                    port: match db.get("mysql_port") {
                        None | Some(Value::Null) => 3306,
                        Some(p) => p
                            .as_u64()
                            .or_else(|| p.as_str().and_then(|s| s.trim().parse().ok()))
                            .and_then(|p| u16::try_from(p).ok())
                            .ok_or("key `database.mysql_port`: not a port number")?,
                    },
                    database: db
                        .get("mysql_database")
                        .and_then(Value::as_str)
                        .unwrap_or("aisbf")
                        .to_string(),
                },
                _ => return Err("key `database.type`: neither sqlite nor mysql".into()),
            }
        }
    };
    let text_at = |section: &str, key: &str| {
        v.get(section)
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(NodeData {
        database,
        cache_type: text_at("cache", "type"),
        cache_prefix: text_at("cache", "redis_key_prefix")
            .unwrap_or_else(|| DEFAULT_CACHE_PREFIX.into()),
        response_backend: text_at("response_cache", "backend"),
        response_prefix: text_at("response_cache", "redis_key_prefix")
            .unwrap_or_else(|| DEFAULT_RESPONSE_PREFIX.into()),
    })
}

/// Reads and parses a node's aisbf.json.
pub fn load(path: &Path) -> Result<NodeData, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
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
