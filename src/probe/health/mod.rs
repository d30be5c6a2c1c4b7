//! `check health`: every node answers, and the nodes agree with each other.
//!
//! For each node, in parallel: `GET /` (global config keys, no token needed),
//! `GET /health` (with the global token when configured), `GET /api/version`
//! (global token only) and `GET /api/u/{user}/models` (user token). Observation
//! and judgement are split: [`observe`] does the I/O, [`assess`] is pure and
//! compares nodes (never raw bodies: `created` changes per request). A node the
//! first pass makes look like a latency outlier gets a second pass first.
//!
//! The parts: [`observe`](self::observe) (the requests), `assess` (each node on
//! its own), `answer` (what one answer says), `drift` (global config, versions,
//! clocks), `tokens` (the user and global token across nodes) and `latency`
//! (outliers on two samples).

use futures::future::BoxFuture;

use crate::config::Config;
use crate::finding::{Finding, ProbeKind};
use crate::probe::context::ProbeContext;
use crate::probe::{NotConfigured, partial};

mod answer;
mod assess;
mod drift;
#[cfg(test)]
mod fixtures;
mod latency;
mod observe;
mod tokens;

pub(crate) use answer::{Shape, bad_shape, request_failure};
pub use assess::assess;
pub use latency::outlier_candidates;
pub use observe::{NodeObservation, observe, observe_node, resample_slow};

pub struct HealthProbe;

impl super::Probe for HealthProbe {
    fn requires(&self, _config: &Config) -> Result<(), NotConfigured> {
        Ok(())
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let mut observations = observe(ctx).await;
            resample_slow(ctx, &mut observations).await;
            let mut findings = assess(&observations, ctx.config.cluster.global_token.is_some());
            // Nodes the deadline cut off keep their own findings; this says
            // how much of the cluster was really asked.
            let answered = observations.iter().filter(|o| !o.cut_by_deadline()).count();
            findings.extend(partial::incomplete(
                ProbeKind::Health,
                "health",
                answered,
                observations.len(),
                "nodes were checked before the deadline",
            ));
            findings
        })
    }
}

/// Up to three node names and a count of the others.
pub(crate) fn name_few(names: &[&str]) -> String {
    crate::finding::name_few(names, 3, "other nodes")
}
