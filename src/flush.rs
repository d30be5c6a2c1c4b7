//! `aisbf-doctor cache flush --prefix P`: the only command that writes.
//!
//! It deletes only keys that start with one prefix this cluster declares in
//! `[cache]`, and refuses anything that could reach another environment. Keys
//! are found with `SCAN MATCH <escaped prefix>*` (never KEYS), re-checked
//! byte-for-byte against the prefix, and removed with `UNLINK` in batches.
//! FLUSHDB and FLUSHALL are never sent.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use redis::aio::MultiplexedConnection;

use crate::config::Cache;

/// Keys asked for per SCAN call and deleted per UNLINK.
pub const DEFAULT_BATCH: usize = 1000;

/// Why a flush was refused before touching Redis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Empty or blank prefix: it would match every key.
    #[error("refusing an empty prefix: it would delete every key in the database")]
    Empty,
    /// The prefix has a glob wildcard.
    #[error("refusing {0:?}: a prefix is literal text; wildcards (*) are not allowed")]
    Wildcard(String),
    /// The prefix is not this cluster's `[cache] prefix` or `response_prefix`.
    #[error(
        "refusing {0:?}: only this cluster's declared prefixes can be flushed ([cache] prefix {1:?} or response_prefix {2:?})"
    )]
    Undeclared(String, String, String),
    /// The prefix contains another environment's prefix, or is inside it.
    #[error(
        "refusing {prefix:?}: it overlaps environment {env:?} (prefix {other:?}), whose keys it would delete"
    )]
    Overlaps {
        prefix: String,
        env: String,
        other: String,
    },
}

/// Checks that `prefix` may be flushed under this config.
pub fn check_prefix(cache: &Cache, prefix: &str) -> Result<(), Refusal> {
    if prefix.trim().is_empty() {
        return Err(Refusal::Empty);
    }
    if prefix.contains('*') {
        return Err(Refusal::Wildcard(prefix.to_string()));
    }
    if prefix != cache.prefix && prefix != cache.response_prefix {
        return Err(Refusal::Undeclared(
            prefix.to_string(),
            cache.prefix.clone(),
            cache.response_prefix.clone(),
        ));
    }
    for env in &cache.other_environments {
        if env.prefix.starts_with(prefix) || prefix.starts_with(&env.prefix) {
            return Err(Refusal::Overlaps {
                prefix: prefix.to_string(),
                env: env.name.clone(),
                other: env.prefix.clone(),
            });
        }
    }
    Ok(())
}

/// Escapes Redis glob characters so `prefix` matches itself literally.
pub fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for ch in prefix.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The SCAN MATCH pattern for every key under `prefix`.
pub fn pattern(prefix: &str) -> String {
    format!("{}*", glob_escape(prefix))
}

/// Counts keys under `prefix` (SCAN; memory stays flat).
pub async fn count(
    con: &mut MultiplexedConnection,
    prefix: &str,
    batch: usize,
) -> Result<u64, redis::RedisError> {
    let pat = pattern(prefix);
    let mut cursor: u64 = 0;
    let mut n = 0u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pat)
            .arg("COUNT")
            .arg(batch)
            .query_async(con)
            .await?;
        n += keys
            .iter()
            .filter(|k| k.starts_with(prefix.as_bytes()))
            .count() as u64;
        cursor = next;
        if cursor == 0 {
            return Ok(n);
        }
    }
}

/// What a flush did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    pub deleted: u64,
    pub elapsed: Duration,
}

impl Flushed {
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.deleted as f64 / s
        } else {
            self.deleted as f64
        }
    }
}

/// Deletes every key under `prefix` with SCAN MATCH + UNLINK in batches.
/// One UNLINK is in flight while the next SCAN runs, so at most two batches of
/// key names are held. Call [`check_prefix`] first.
pub async fn flush(
    con: &mut MultiplexedConnection,
    prefix: &str,
    batch: usize,
) -> Result<Flushed, redis::RedisError> {
    let started = Instant::now();
    let pat = pattern(prefix);
    let batch = batch.clamp(1, 100_000);
    let mut cursor: u64 = 0;
    let mut deleted = 0u64;
    let mut pending: Vec<Vec<u8>> = Vec::with_capacity(batch);
    let mut inflight: Option<BoxFuture<'static, Result<u64, redis::RedisError>>> = None;
    loop {
        let mut scan_cmd = redis::cmd("SCAN");
        scan_cmd
            .arg(cursor)
            .arg("MATCH")
            .arg(&pat)
            .arg("COUNT")
            .arg(batch);
        let scan = scan_cmd.query_async::<(u64, Vec<Vec<u8>>)>(con);
        let previous = async {
            match inflight.take() {
                Some(f) => f.await,
                None => Ok(0),
            }
        };
        let (scanned, unlinked) = futures::join!(scan, previous);
        deleted += unlinked?;
        let (next, keys) = scanned?;
        // Defence in depth: only keys that really start with the prefix.
        pending.extend(
            keys.into_iter()
                .filter(|k| k.starts_with(prefix.as_bytes())),
        );
        cursor = next;
        if pending.len() >= batch || (cursor == 0 && !pending.is_empty()) {
            let keys = std::mem::replace(&mut pending, Vec::with_capacity(batch));
            let mut c = con.clone();
            inflight = Some(Box::pin(async move {
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<u64>(&mut c)
                    .await
            }));
        }
        if cursor == 0 {
            break;
        }
    }
    if let Some(f) = inflight.take() {
        deleted += f.await?;
    }
    Ok(Flushed {
        deleted,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OtherEnvironment;
    use crate::secret::Secret;

    fn cache() -> Cache {
        Cache {
            url: Secret::new("redis://127.0.0.1/0"),
            prefix: "aisbf:prod:".into(),
            response_prefix: "aisbf:prod:response:".into(),
            other_environments: vec![OtherEnvironment {
                name: "staging".into(),
                prefix: "aisbf:staging:".into(),
            }],
        }
    }

    #[test]
    fn refusals_table() {
        let c = cache();
        let rows: Vec<(&str, Option<&str>)> = vec![
            ("aisbf:prod:", None),
            ("aisbf:prod:response:", None),
            ("", Some("empty")),
            ("   ", Some("empty")),
            ("*", Some("wildcard")),
            ("aisbf:prod:*", Some("wildcard")),
            ("aisbf:", Some("declared")),
            ("aisbf:staging:", Some("declared")),
            ("other:", Some("declared")),
        ];
        for (p, want) in rows {
            let got = check_prefix(&c, p);
            match want {
                None => assert_eq!(got, Ok(()), "{p:?}"),
                Some(word) => {
                    let msg = got.expect_err(p).to_string();
                    assert!(msg.contains(word), "{p:?}: {msg}");
                }
            }
        }
    }

    #[test]
    fn a_declared_prefix_that_contains_another_environment_is_refused() {
        let mut c = cache();
        c.prefix = "aisbf:".into();
        let e = check_prefix(&c, "aisbf:").expect_err("overlap");
        assert!(matches!(e, Refusal::Overlaps { .. }), "{e}");
        assert!(e.to_string().contains("staging"));
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(pattern("a:b:"), "a:b:*");
        assert_eq!(pattern("a?[x]\\"), "a\\?\\[x\\]\\\\*");
    }
}
