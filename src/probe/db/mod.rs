//! The shared database (`check db`): reachability, migration level, data sanity,
//! whether every node's aisbf.json points at it, and whether every node still
//! serves the user's providers, rotations and autoselects the database holds.
//!
//! Read-only by construction: SQLite is opened with `mode=ro`, MySQL sessions
//! are set `READ ONLY`, and every query is a parameterised, bounded SELECT.
//! Token values are compared inside the database (`WHERE token = ?`) and never
//! selected. The probe first observes ([`observe`]), then a pure function
//! ([`assess`]) turns the observation into findings. The user's routes are
//! then asked of every node (`GET /api/u/{user}/providers`, `/rotations`,
//! `/autoselects`) and compared with the database by [`route_findings`]:
//! AISBF caches them per process and never refreshes them.
//!
//! The parts: `connect` (the read-only URL, the budget, why a connection
//! failed), `observe` (the queries), `schema` (the migration level), `assess`
//! (observation and node configs to findings) and `routes` (each node's user
//! routes against the database's).

use futures::future::BoxFuture;

use crate::aisbf_json::{self, DbTarget};
use crate::config::Config;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::probe::NotConfigured;
use crate::probe::context::{ProbeContext, bounded_in_order};

mod assess;
mod connect;
mod observe;
mod routes;
mod schema;

pub use assess::{assess, compare_nodes};
pub use observe::{ConnectFailure, Counts, DbObservation, TokenRow, UserRoutes, UserRow, observe};
pub use routes::{node_routes, route_findings};
pub use schema::{AISBF_SCHEMA, expected_schema, schema_findings};

pub struct DbProbe;

impl super::Probe for DbProbe {
    fn requires(&self, config: &Config) -> Result<(), NotConfigured> {
        config
            .database
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| NotConfigured::needs("a [database] section with url"))
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let Some(db) = &ctx.config.database else {
                return Vec::new();
            };
            let target = DbTarget::from_url(db.url.expose());
            let node_data = aisbf_json::load_nodes(ctx.nodes());
            let obs = observe(
                &db.url,
                &ctx.config.cluster.user,
                &ctx.config.cluster.token,
                ctx.http.budget(),
            )
            .await;
            let mut findings = assess(&obs);
            findings.extend(compare_nodes(target.as_ref(), &node_data));
            if let Ok(Some(in_db)) = &obs.routes {
                let user = &ctx.config.cluster.user;
                let token = &ctx.config.cluster.token;
                let requests: Vec<_> = ctx
                    .nodes()
                    .into_iter()
                    .map(|node| async move {
                        (
                            node.name.clone(),
                            node_routes(&ctx.http, &node.url, user, token).await,
                        )
                    })
                    .collect();
                let on_nodes: Vec<(String, UserRoutes)> =
                    bounded_in_order(requests, ctx.config.cluster.concurrency).await;
                findings.extend(route_findings(user, in_db, &on_nodes));
            }
            findings
        })
    }
}

fn finding(sev: Severity, subject: &str, code: Code, message: String) -> Finding {
    Finding::new(ProbeKind::Db, sev, subject, code, message)
}
