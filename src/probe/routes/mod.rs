//! `check routes`: the smoke matrix, one minimal chat completion per route × node
//! (and through the balancer).
//!
//! Smoke requests cost money (each is a real completion with `max_tokens: 1`),
//! so the matrix is exactly what `[routes] smoke` lists, at `[routes] concurrency`,
//! plus one second sample for a cell that looked slow. The first route doubles
//! as a response-cache round trip: nodes sharing the cache repeat one `id`.
//! A route failing on every node is the route or its provider (`edit_routes`);
//! failing on some nodes only is infrastructure on those nodes.
//!
//! The parts: `observe` (the matrix of requests), `assess` (route or node),
//! `answers` (quoting what failed), `response_cache` (the round trip) and
//! `latency` (slow cells on two samples).

use futures::future::BoxFuture;

use crate::config::Config;
use crate::finding::{Finding, ProbeKind};
use crate::probe::context::ProbeContext;
use crate::probe::{NotConfigured, partial};

mod answers;
mod assess;
#[cfg(test)]
mod fixtures;
mod latency;
mod observe;
mod response_cache;

use observe::observe;

pub use answers::distinct_answers;
pub use assess::assess;
pub use latency::slow_candidates;
pub use observe::Cell;
pub use response_cache::response_cache;

pub struct RoutesProbe;

impl super::Probe for RoutesProbe {
    fn requires(&self, config: &Config) -> Result<(), NotConfigured> {
        match &config.routes {
            Some(r) if !r.smoke.is_empty() => Ok(()),
            _ => Err(NotConfigured::needs("[routes] smoke = [...]")),
        }
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let cells = observe(ctx).await;
            let mut findings = assess(&cells);
            // Cells the deadline cut keep their findings; this says how much
            // of the matrix really ran.
            let done = cells.iter().filter(|c| !c.cut_by_deadline()).count();
            findings.extend(partial::incomplete(
                ProbeKind::Routes,
                "routes",
                done,
                cells.len(),
                "smoke requests finished before the deadline",
            ));
            findings
        })
    }
}
