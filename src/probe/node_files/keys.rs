//! The aisbf.json keys that must agree across nodes, with their values as
//! shown to people, and what the cluster's own config expects of them.

use std::collections::BTreeMap;

use crate::aisbf_json::{DbTarget, NodeConfig};
use crate::config::Config;

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
            let db = crate::probe::cache::db_index(cache.url.expose()).to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
