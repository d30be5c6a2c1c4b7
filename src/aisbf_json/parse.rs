//! aisbf.json text to a [`NodeConfig`]: only the keys AISBF reads, with its
//! defaults and its coercions (Python truthiness, Pydantic bools). Every other
//! key, passwords included, is skipped by the parser without being copied.

use serde::Deserialize;
use serde_json::Value;

use super::{
    CacheConfig, DEFAULT_CACHE_PREFIX, DEFAULT_RESPONSE_PREFIX, DbTarget, NodeConfig,
    ResponseCacheConfig, normal_host,
};
/// The keys read from the file. Every other key (passwords included) is
/// skipped by the parser without being copied out of the text.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Raw {
    database: Option<RawDatabase>,
    cache: Option<RawRedis>,
    response_cache: Option<RawRedis>,
    auth: Option<RawAuth>,
    client_rate_limiting: Option<RawRateLimiting>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRateLimiting {
    enabled: Option<Value>,
    api: Option<RawLimit>,
    general: Option<RawLimit>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLimit {
    requests_per_minute: Option<Value>,
    requests_per_hour: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDatabase {
    r#type: Option<Value>,
    sqlite_path: Option<Value>,
    mysql_host: Option<Value>,
    mysql_port: Option<Value>,
    mysql_database: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRedis {
    r#type: Option<Value>,
    backend: Option<Value>,
    enabled: Option<Value>,
    ttl: Option<Value>,
    redis_host: Option<Value>,
    redis_port: Option<Value>,
    redis_db: Option<Value>,
    redis_key_prefix: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAuth {
    enabled: Option<Value>,
}

fn string(v: &Option<Value>) -> Option<String> {
    v.as_ref().and_then(Value::as_str).map(str::to_string)
}

fn number(v: &Option<Value>, key: &str, what: &str) -> Result<Option<i64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(p) => p
            .as_i64()
            .or_else(|| p.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| format!("key `{key}`: not {what}")),
    }
}

fn port(v: &Option<Value>, key: &str, default: u16) -> Result<u16, String> {
    match number(v, key, "a port number")? {
        None => Ok(default),
        Some(p) => u16::try_from(p).map_err(|_| format!("key `{key}`: not a port number")),
    }
}

/// Python's truthiness, as `auth.get('enabled', False)` is read.
fn truthy(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// Pydantic's bool coercion (`response_cache.enabled`).
fn pydantic_bool(v: &Option<Value>, key: &str, default: bool) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(true),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(false),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "t" | "y" => Ok(true),
            "0" | "false" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(format!("key `{key}`: not a boolean")),
        },
        Some(_) => Err(format!("key `{key}`: not a boolean")),
    }
}

/// Parses aisbf.json text, AISBF's defaults filled in for missing keys.
/// Errors name the key and never quote values.
pub fn parse_config(text: &str) -> Result<NodeConfig, String> {
    // serde also builds a struct from an array: only an object is aisbf.json.
    if !text.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Err("not a JSON object".into()),
            Err(e) => Err(format!(
                "not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )),
        };
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let raw: Raw = match serde_path_to_error::deserialize(&mut de) {
        Ok(raw) => raw,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data if path == "." => "not a JSON object".into(),
                serde_json::error::Category::Data => {
                    format!("key `{path}`: not the type AISBF expects")
                }
                _ => format!(
                    "not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                ),
            });
        }
    };
    if let Err(e) = de.end() {
        return Err(format!(
            "not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ));
    }
    let database = match raw.database {
        None => DbTarget::Sqlite {
            path: "~/.aisbf/aisbf.db".into(),
        },
        Some(db) => {
            let kind = string(&db.r#type).unwrap_or_else(|| "sqlite".into());
            match kind.to_ascii_lowercase().as_str() {
                "sqlite" => DbTarget::Sqlite {
                    path: string(&db.sqlite_path).unwrap_or_else(|| "~/.aisbf/aisbf.db".into()),
                },
                "mysql" | "mariadb" => DbTarget::Mysql {
                    host: normal_host(
                        &string(&db.mysql_host).unwrap_or_else(|| "localhost".into()),
                    ),
                    port: port(&db.mysql_port, "database.mysql_port", 3306)?,
                    database: string(&db.mysql_database).unwrap_or_else(|| "aisbf".into()),
                },
                _ => return Err("key `database.type`: neither sqlite nor mysql".into()),
            }
        }
    };
    let c = raw.cache.unwrap_or_default();
    let cache = CacheConfig {
        kind: string(&c.r#type).unwrap_or_else(|| "sqlite".into()),
        host: normal_host(&string(&c.redis_host).unwrap_or_else(|| "localhost".into())),
        port: port(&c.redis_port, "cache.redis_port", 6379)?,
        db: number(&c.redis_db, "cache.redis_db", "a number")?.unwrap_or(0),
        prefix: string(&c.redis_key_prefix).unwrap_or_else(|| DEFAULT_CACHE_PREFIX.into()),
    };
    let present = raw.response_cache.is_some();
    let r = raw.response_cache.unwrap_or_default();
    let response_cache = ResponseCacheConfig {
        enabled: pydantic_bool(&r.enabled, "response_cache.enabled", true)?,
        backend: string(&r.backend)
            .unwrap_or_else(|| if present { "memory" } else { "redis" }.into()),
        host: normal_host(&string(&r.redis_host).unwrap_or_else(|| "localhost".into())),
        port: port(&r.redis_port, "response_cache.redis_port", 6379)?,
        db: number(&r.redis_db, "response_cache.redis_db", "a number")?.unwrap_or(0),
        prefix: string(&r.redis_key_prefix).unwrap_or_else(|| DEFAULT_RESPONSE_PREFIX.into()),
        ttl: number(&r.ttl, "response_cache.ttl", "a number of seconds")?
            .map(|t| u64::try_from(t).map_err(|_| "key `response_cache.ttl`: negative".to_string()))
            .transpose()?
            .unwrap_or(600),
    };
    Ok(NodeConfig {
        database,
        cache,
        response_cache,
        auth_enabled: truthy(&raw.auth.unwrap_or_default().enabled),
        client_rate_limit: rate_limit(raw.client_rate_limiting.unwrap_or_default()),
        declared_cache_type: string(&c.r#type),
        declared_response_backend: string(&r.backend),
    })
}

/// AISBF 0.99.92's `ClientRateLimitingConfig`: off unless enabled; api
/// 60/min 1000/h and general 120/min 3000/h by default.
fn rate_limit(r: RawRateLimiting) -> String {
    if !truthy(&r.enabled) {
        return "off".into();
    }
    let limit = |l: Option<RawLimit>, per_min: i64, per_hour: i64| {
        let l = l.unwrap_or_default();
        let n = |v: &Option<Value>, d: i64| v.as_ref().and_then(Value::as_i64).unwrap_or(d);
        format!(
            "{}/min {}/h",
            n(&l.requests_per_minute, per_min),
            n(&l.requests_per_hour, per_hour)
        )
    };
    format!(
        "api {}, general {}",
        limit(r.api, 60, 1000),
        limit(r.general, 120, 3000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_file_defaults_follow_aisbf() {
        let c = parse_config("{}").unwrap();
        assert_eq!(c.cache.kind, "sqlite");
        assert_eq!(
            (c.cache.host.as_str(), c.cache.port, c.cache.db),
            ("127.0.0.1", 6379, 0)
        );
        assert!(c.response_cache.enabled);
        assert_eq!(c.response_cache.backend, "redis");
        assert_eq!(c.response_cache.ttl, 600);
        assert!(!c.auth_enabled);
        // A present section without `backend` is pydantic's default: memory.
        let c = parse_config(r#"{"response_cache":{"ttl":"30"}}"#).unwrap();
        assert_eq!(c.response_cache.backend, "memory");
        assert_eq!(c.response_cache.ttl, 30);
    }

    #[test]
    fn whole_file_reads_redis_keys_and_auth_without_passwords() {
        let c = parse_config(
            r#"{"cache":{"type":"redis","redis_host":"Redis.Lan","redis_port":6380,"redis_db":"2",
                "redis_password":"cachepw","redis_key_prefix":"aisbf:prod:"},
                "response_cache":{"enabled":"false","backend":"redis","redis_db":3,"redis_password":"rpw"},
                "auth":{"enabled":true,"tokens":["globtok"]},
                "database":{"type":"mysql","mysql_password":"dbpw"}}"#,
        )
        .unwrap();
        assert_eq!(c.cache.kind, "redis");
        assert_eq!(
            (c.cache.host.as_str(), c.cache.port, c.cache.db),
            ("redis.lan", 6380, 2)
        );
        assert_eq!(c.cache.prefix, "aisbf:prod:");
        assert!(!c.response_cache.enabled);
        assert_eq!(c.response_cache.db, 3);
        assert!(c.auth_enabled);
        let debug = format!("{c:?}");
        for secret in ["cachepw", "rpw", "globtok", "dbpw"] {
            assert!(!debug.contains(secret), "{secret} kept");
        }
        // The projection the db and cache probes use is unchanged.
        assert_eq!(c.data().cache_type.as_deref(), Some("redis"));
        assert_eq!(c.data().response_backend.as_deref(), Some("redis"));
    }

    #[test]
    fn whole_file_errors_name_the_key_never_the_value() {
        for (text, key) in [
            (
                r#"{"cache":{"redis_port":"notaport-SEKRIT"}}"#,
                "cache.redis_port",
            ),
            (
                r#"{"response_cache":{"enabled":"maybe-SEKRIT"}}"#,
                "response_cache.enabled",
            ),
            (r#"{"database":"SEKRIT"}"#, "database"),
        ] {
            let e = parse_config(text).unwrap_err();
            assert!(e.contains(key), "{e}");
            assert!(!e.contains("SEKRIT"), "{e}");
        }
        assert!(parse_config(r#"{"auth":{} } trailing"#).is_err());
    }
}
