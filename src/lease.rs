//! Leader lease for several `serve` replicas: one Redis key set with
//! `SET NX PX`, renewed by its holder, with a fencing token.
//!
//! Acquiring increments `<key>:fence`; before posting, the leader checks that
//! it still holds the key *and* that the fence is still its own, so a replica
//! that paused past its lease (GC, SIGSTOP, a slow network) cannot post after
//! another one took over.
//!
//! The fence must only move forward even when Redis loses it (restarted
//! without persistence, `FLUSHALL`, the key deleted): [`Lease::acquire`] takes
//! a floor (the newest fence stored with the watch state) and never hands out
//! a fence at or below it, and a holder whose fence key changed under it gives
//! the lease up so that it is taken again above the floor.
//!
//! The connection survives Redis restarts: a connection error drops it, and
//! the next call reconnects, no sooner than a backoff that doubles (with
//! jitter) up to a third of the TTL. [`Lease::unreachable_since`] tells since
//! when Redis has not answered (for `/healthz`).

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use crate::secret::Secret;

/// How long connecting to Redis may take before the lease gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The first wait before reconnecting after a connection error.
const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// A lease problem: Redis unreachable or answering errors.
///
/// Display is `lease: ` and Redis's own message, which names the command and
/// never the URL (so never its password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The Redis URL was refused or the connection failed.
    #[error("lease: {0}")]
    Connect(#[source] redis::RedisError),
    /// Redis accepted no connection within [`CONNECT_TIMEOUT`].
    #[error("lease: connecting to Redis timed out")]
    ConnectTimeout,
    /// Taking, renewing, checking or releasing the lease failed.
    #[error("lease: {0}")]
    Command(#[source] redis::RedisError),
    /// The connection was lost and the next reconnect is not due yet.
    #[error("lease: Redis unreachable; reconnecting in {} ms", retry_in.as_millis())]
    Reconnecting { retry_in: Duration },
}

/// This replica's view of the lease.
pub struct Lease {
    client: redis::Client,
    con: Option<MultiplexedConnection>,
    key: String,
    holder: String,
    ttl: Duration,
    fence: Option<i64>,
    unreachable_since: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

/// Renews the lease only while the fence is still this holder's; a held lease
/// whose fence key was lost or changed is given up (taken again above the floor).
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if redis.call('GET', KEYS[2]) ~= ARGV[3] then
  redis.call('DEL', KEYS[1])
  return 0
end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"#;

/// Takes the lease if free; the new fence is above both the counter and the floor.
const ACQUIRE: &str = r#"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
local f = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if f <= floor then
  f = floor + 1
  redis.call('SET', KEYS[2], string.format('%d', f))
end
return f
"#;

const STILL_LEADER: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  return 1
end
return 0
"#;

const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Whether `e` means the connection itself is gone (reconnect) rather than
/// Redis answering with an error.
fn connection_lost(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

/// Up to a quarter of `d` more, from the clock's low bits (no RNG needed:
/// replicas restarting together just should not reconnect in lockstep).
fn with_jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + d.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

async fn open(
    client: &redis::Client,
    within: Duration,
) -> Result<MultiplexedConnection, LeaseError> {
    tokio::time::timeout(within, client.get_multiplexed_async_connection())
        .await
        .map_err(|_| LeaseError::ConnectTimeout)?
        .map_err(LeaseError::Connect)
}

impl Lease {
    /// Connects; `holder` names this replica (unique per process). A Redis
    /// that cannot be reached now is an error; later outages are reconnected.
    pub async fn connect(
        url: &Secret,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        let client = redis::Client::open(url.expose()).map_err(LeaseError::Connect)?;
        let con = open(&client, CONNECT_TIMEOUT).await?;
        Ok(Lease {
            client,
            con: Some(con),
            key: key.to_string(),
            holder: holder.to_string(),
            ttl,
            fence: None,
            unreachable_since: None,
            retry_at: None,
            backoff: MIN_BACKOFF,
        })
    }

    fn fence_key(&self) -> String {
        format!("{}:fence", self.key)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    fn max_backoff(&self) -> Duration {
        (self.ttl / 3).max(MIN_BACKOFF)
    }

    /// The connection, reconnecting when it was lost and the backoff is over.
    async fn con(&mut self) -> Result<MultiplexedConnection, LeaseError> {
        if let Some(con) = &self.con {
            return Ok(con.clone());
        }
        let now = Instant::now();
        if let Some(at) = self.retry_at.filter(|at| now < *at) {
            return Err(LeaseError::Reconnecting { retry_in: at - now });
        }
        match open(&self.client, CONNECT_TIMEOUT.min(self.ttl)).await {
            Ok(con) => {
                tracing::info!("lease: reconnected to Redis");
                self.con = Some(con.clone());
                self.retry_at = None;
                self.backoff = MIN_BACKOFF;
                Ok(con)
            }
            Err(e) => {
                self.lost();
                Err(e)
            }
        }
    }

    /// The connection is gone: forget it and wait before the next attempt.
    fn lost(&mut self) {
        self.con = None;
        let now = Instant::now();
        self.unreachable_since.get_or_insert(now);
        self.retry_at = Some(now + with_jitter(self.backoff));
        self.backoff = (self.backoff * 2).min(self.max_backoff());
    }

    /// Books the outcome of one command: Redis answered, or the connection is lost.
    fn outcome<T>(&mut self, r: redis::RedisResult<T>) -> Result<T, LeaseError> {
        match r {
            Ok(v) => {
                self.unreachable_since = None;
                Ok(v)
            }
            Err(e) => {
                if connection_lost(&e) {
                    self.lost();
                } else {
                    self.unreachable_since = None;
                }
                Err(LeaseError::Command(e))
            }
        }
    }

    /// Since when Redis has not answered (`None` while it does).
    pub fn unreachable_since(&self) -> Option<Instant> {
        self.unreachable_since
    }

    /// Whether this replica believes it holds the lease (a fence was taken and
    /// not lost since); [`Lease::renew`] confirms it.
    pub fn holds(&self) -> bool {
        self.fence.is_some()
    }

    /// Renews a held lease; false (and not held any more) when it lapsed, was
    /// taken by another replica or its fence key changed under it.
    pub async fn renew(&mut self) -> Result<bool, LeaseError> {
        let Some(fence) = self.fence else {
            return Ok(false);
        };
        let mut con = self.con().await?;
        let r = redis::Script::new(RENEW)
            .key(&self.key)
            .key(self.fence_key())
            .arg(&self.holder)
            .arg(self.ttl_ms())
            .arg(fence)
            .invoke_async::<i64>(&mut con)
            .await;
        let renewed = self.outcome(r)? == 1;
        if !renewed {
            self.fence = None;
        }
        Ok(renewed)
    }

    /// Whether no replica holds the lease now (worth reading the floor for).
    pub async fn is_free(&mut self) -> Result<bool, LeaseError> {
        let mut con = self.con().await?;
        let r = redis::cmd("EXISTS")
            .arg(&self.key)
            .query_async::<i64>(&mut con)
            .await;
        Ok(self.outcome(r)? == 0)
    }

    /// Takes the lease if free, with a fence above `floor` (the newest fence
    /// that wrote the shared state); returns whether this replica leads now.
    pub async fn acquire(&mut self, floor: i64) -> Result<bool, LeaseError> {
        let mut con = self.con().await?;
        let r = redis::Script::new(ACQUIRE)
            .key(&self.key)
            .key(self.fence_key())
            .arg(&self.holder)
            .arg(self.ttl_ms())
            .arg(floor)
            .invoke_async::<Option<i64>>(&mut con)
            .await;
        self.fence = self.outcome(r)?;
        Ok(self.fence.is_some())
    }

    /// Renews the lease if held, else takes it if free (with no floor);
    /// returns whether this replica leads now.
    pub async fn tick(&mut self) -> Result<bool, LeaseError> {
        if self.renew().await? {
            return Ok(true);
        }
        self.acquire(0).await
    }

    /// True only if this replica holds the lease and its fence is current:
    /// check this right before every post.
    pub async fn still_leader(&mut self) -> Result<bool, LeaseError> {
        let Some(fence) = self.fence else {
            return Ok(false);
        };
        let mut con = self.con().await?;
        let r = redis::Script::new(STILL_LEADER)
            .key(&self.key)
            .key(self.fence_key())
            .arg(&self.holder)
            .arg(fence)
            .invoke_async::<i64>(&mut con)
            .await;
        Ok(self.outcome(r)? == 1)
    }

    pub fn fence(&self) -> Option<i64> {
        self.fence
    }

    /// Gives the lease up (on shutdown, or when its fence fell behind), if still held.
    pub async fn release(&mut self) -> Result<(), LeaseError> {
        self.fence = None;
        let mut con = self.con().await?;
        let r = redis::Script::new(RELEASE)
            .key(&self.key)
            .arg(&self.holder)
            .invoke_async::<i64>(&mut con)
            .await;
        self.outcome(r)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_that_does_not_name_the_password() {
        let url = Secret::new("redis://:hunter2-pw@127.0.0.1:1/0");
        let Err(e) = Lease::connect(&url, "k", "h", Duration::from_secs(1)).await else {
            panic!("port 1 must refuse");
        };
        assert!(
            matches!(e, LeaseError::Connect(_) | LeaseError::ConnectTimeout),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("lease: "), "{e}");
        assert!(!e.to_string().contains("hunter2-pw"), "{e}");
    }

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        let d = Duration::from_millis(400);
        let j = with_jitter(d);
        assert!(j >= d && j <= d + d / 4, "{j:?}");
    }
}
