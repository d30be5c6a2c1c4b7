//! One call's time: the per-call timeout (`cluster.timeout_ms`), cut by what is
//! left of the run's overall deadline. HTTP requests, database queries and
//! Redis commands all run within one, so no call outlives the run and a probe
//! always ends with what it saw.

use std::future::Future;
use std::time::{Duration, Instant};

/// The per-call timeout and, when a run has one, its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    timeout: Duration,
    deadline: Option<Instant>,
}

/// Why a call within a [`Budget`] gave no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfTime {
    /// The deadline had passed: the call was not made.
    NotStarted,
    /// The call did not finish within `limit`.
    TimedOut { limit: Duration },
}

impl Budget {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            deadline: None,
        }
    }

    /// Ends every call at `deadline` at the latest.
    pub fn with_deadline(self, deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..self
        }
    }

    /// The per-call timeout, before any deadline cut.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What a call started at `started` may take: zero once the deadline passed.
    pub fn left(&self, started: Instant) -> Duration {
        match self.deadline {
            Some(d) => self.timeout.min(d.saturating_duration_since(started)),
            None => self.timeout,
        }
    }

    /// Runs `call` within what is left from now.
    pub async fn run<T>(&self, call: impl Future<Output = T>) -> Result<T, OutOfTime> {
        let limit = self.left(Instant::now());
        if limit.is_zero() {
            return Err(OutOfTime::NotStarted);
        }
        tokio::time::timeout(limit, call)
            .await
            .map_err(|_| OutOfTime::TimedOut { limit })
    }
}

impl OutOfTime {
    /// For messages: "no answer within 1500 ms", "not asked: ...".
    pub fn describe(&self, what: &str) -> String {
        match self {
            OutOfTime::NotStarted => {
                "not asked: the overall deadline (cluster.deadline_ms) had passed".into()
            }
            OutOfTime::TimedOut { limit } => format!("no {what} within {} ms", limit.as_millis()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_cuts_the_timeout_and_a_past_deadline_leaves_nothing() {
        let now = Instant::now();
        let b = Budget::new(Duration::from_secs(5));
        assert_eq!(b.left(now), Duration::from_secs(5));
        let b = b.with_deadline(now + Duration::from_secs(2));
        assert_eq!(b.left(now), Duration::from_secs(2));
        assert_eq!(b.left(now + Duration::from_secs(3)), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_call_past_the_deadline_is_not_started_and_a_slow_one_times_out() {
        let past = Budget::new(Duration::from_secs(1)).with_deadline(Instant::now());
        assert_eq!(past.run(async { 1 }).await, Err(OutOfTime::NotStarted));
        let short = Budget::new(Duration::from_millis(10));
        let slow = tokio::time::sleep(Duration::from_secs(5));
        assert_eq!(
            short.run(slow).await,
            Err(OutOfTime::TimedOut {
                limit: Duration::from_millis(10)
            })
        );
        assert_eq!(short.run(async { 7 }).await, Ok(7));
    }
}
