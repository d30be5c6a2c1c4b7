//! One classified connection: why Redis could not be used is read from the
//! client's typed errors (and, for a server that is not Redis, from a raw PING).

use std::time::{Duration, Instant};

use redis::ErrorKind;
use redis::aio::MultiplexedConnection;

use super::finding;
use crate::finding::{Code, Finding, Severity};
use crate::http::{Budget, OutOfTime};
use crate::secret::Secret;

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

    pub(super) fn finding(&self) -> Finding {
        let code = match self {
            CacheFailure::Unreachable(_) => Code::CacheUnreachable,
            CacheFailure::AccessDenied(_) => Code::CacheAccessDenied,
            CacheFailure::NotRedis(_) => Code::CacheNotRedis,
        };
        finding(Severity::Fail, "cache", code, self.message())
    }
}

/// Why a Redis error means Redis cannot be used, by the error's kind and the
/// server's error code (`-NOAUTH ...`, `-WRONGPASS ...`).
pub(super) fn classify(e: &redis::RedisError) -> CacheFailure {
    let text = crate::http::truncate(&e.to_string(), 200);
    // Redis before 6 answers a wrong AUTH password with a plain `-ERR invalid
    // password`: there only the server's answer text tells a login failure.
    let old_auth_error = e.code() == Some("ERR")
        && e.detail()
            .is_some_and(|d| d.to_ascii_lowercase().contains("invalid password"));
    if e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
        || old_auth_error
    {
        CacheFailure::AccessDenied(text)
    } else if e.kind() == ErrorKind::Parse {
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
    // The raw answer is all there is here: its error code is its first word.
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
    connect_within(url, Budget::new(timeout)).await
}

/// [`connect`] with the run's budget: the per-call timeout, cut by the
/// deadline, also bounds every command on the connection.
pub async fn connect_within(
    url: &Secret,
    budget: Budget,
) -> Result<MultiplexedConnection, CacheFailure> {
    let client = redis::Client::open(url.expose()).map_err(|e| {
        CacheFailure::Unreachable(format!("cache.url cannot be used: {:?}", e.kind()))
    })?;
    let timeout = budget.left(Instant::now());
    if timeout.is_zero() {
        return Err(CacheFailure::Unreachable(
            OutOfTime::NotStarted.describe("answer"),
        ));
    }
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    // A little slack: the client's own timeouts end first, with a typed error.
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

/// The db number in a redis URL path (`redis://h:6379/2` is 2).
pub fn db_index(url: &str) -> i64 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.path().trim_start_matches('/').parse().ok())
        .unwrap_or(0)
}
