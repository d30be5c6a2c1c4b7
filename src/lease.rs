//! Leader lease for several `serve` replicas: one Redis key set with
//! `SET NX PX`, renewed by its holder, with a fencing token.
//!
//! Acquiring increments `<key>:fence`; before posting, the leader checks that
//! it still holds the key *and* that the fence is still its own, so a replica
//! that paused past its lease (GC, SIGSTOP, a slow network) cannot post after
//! another one took over.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::secret::Secret;

/// How long connecting to Redis may take before the lease gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
}

/// This replica's view of the lease.
pub struct Lease {
    con: MultiplexedConnection,
    key: String,
    holder: String,
    ttl: Duration,
    fence: Option<i64>,
}

const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
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

impl Lease {
    /// Connects; `holder` names this replica (unique per process).
    pub async fn connect(
        url: &Secret,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        let client = redis::Client::open(url.expose()).map_err(LeaseError::Connect)?;
        let con = tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| LeaseError::ConnectTimeout)?
            .map_err(LeaseError::Connect)?;
        Ok(Lease {
            con,
            key: key.to_string(),
            holder: holder.to_string(),
            ttl,
            fence: None,
        })
    }

    fn fence_key(&self) -> String {
        format!("{}:fence", self.key)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// Takes the lease if free, or renews it if held; returns whether this
    /// replica leads now.
    pub async fn tick(&mut self) -> Result<bool, LeaseError> {
        if self.fence.is_some() {
            let renewed: i64 = redis::Script::new(RENEW)
                .key(&self.key)
                .arg(&self.holder)
                .arg(self.ttl_ms())
                .invoke_async(&mut self.con)
                .await
                .map_err(LeaseError::Command)?;
            if renewed == 1 {
                return Ok(true);
            }
            self.fence = None;
        }
        let set: Option<String> = redis::cmd("SET")
            .arg(&self.key)
            .arg(&self.holder)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl_ms())
            .query_async(&mut self.con)
            .await
            .map_err(LeaseError::Command)?;
        if set.is_none() {
            return Ok(false);
        }
        let fence: i64 = redis::cmd("INCR")
            .arg(self.fence_key())
            .query_async(&mut self.con)
            .await
            .map_err(LeaseError::Command)?;
        self.fence = Some(fence);
        Ok(true)
    }

    /// True only if this replica holds the lease and its fence is current:
    /// check this right before every post.
    pub async fn still_leader(&mut self) -> Result<bool, LeaseError> {
        let Some(fence) = self.fence else {
            return Ok(false);
        };
        let ok: i64 = redis::Script::new(STILL_LEADER)
            .key(&self.key)
            .key(self.fence_key())
            .arg(&self.holder)
            .arg(fence)
            .invoke_async(&mut self.con)
            .await
            .map_err(LeaseError::Command)?;
        Ok(ok == 1)
    }

    pub fn fence(&self) -> Option<i64> {
        self.fence
    }

    /// Gives the lease up (on shutdown), if still held.
    pub async fn release(&mut self) -> Result<(), LeaseError> {
        let _: i64 = redis::Script::new(RELEASE)
            .key(&self.key)
            .arg(&self.holder)
            .invoke_async(&mut self.con)
            .await
            .map_err(LeaseError::Command)?;
        self.fence = None;
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
}
