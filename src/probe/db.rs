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

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use sqlx::{AnyConnection, ConnectOptions, Connection, Row};

use crate::aisbf_json::{self, DbTarget, NodeData};
use crate::config::Config;
use crate::finding::{Code, Finding, ProbeKind, Severity};
use crate::http::{Http, Outcome};
use crate::probe::context::{ProbeContext, bounded_in_order};
use crate::secret::Secret;

/// The tables and columns AISBF 0.99.92 creates (see scripts/gen-aisbf-schema.py).
pub const AISBF_SCHEMA: &str = include_str!("aisbf-0.99.92.schema");

/// Most columns read from the catalogue (AISBF 0.99.92 has 333).
const MAX_COLUMNS: i64 = 5000;
/// Most ids read per route table for one user.
const MAX_ROUTES: i64 = 10_000;

pub struct DbProbe;

impl super::Probe for DbProbe {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Db
    }

    fn requires(&self, config: &Config) -> Result<(), String> {
        config
            .database
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| "a [database] section with url".to_string())
    }

    fn run<'a>(&'a self, ctx: &'a ProbeContext) -> BoxFuture<'a, Vec<Finding>> {
        Box::pin(async move {
            let Some(db) = &ctx.config.database else {
                return Vec::new();
            };
            let timeout = Duration::from_millis(ctx.config.cluster.timeout_ms)
                .min(ctx.remaining().max(Duration::from_millis(100)));
            let target = DbTarget::from_url(db.url.expose());
            let nodes: Vec<(String, Option<PathBuf>)> = ctx
                .nodes()
                .iter()
                .map(|n| (n.name.clone(), n.aisbf_json.clone()))
                .collect();
            let node_data: Vec<(String, Result<NodeData, String>)> = nodes
                .into_iter()
                .filter_map(|(name, path)| path.map(|p| (name, aisbf_json::load(&p))))
                .collect();
            let obs = observe(
                &db.url,
                &ctx.config.cluster.user,
                &ctx.config.cluster.token,
                timeout,
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

/// What a connection attempt ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    Unreachable(String),
    AccessDenied(String),
    NotFound(String),
}

/// `cluster.user` as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub active: bool,
}

/// The configured token as the database has it (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub user_id: i64,
    pub active: bool,
    pub scope: String,
}

/// Row counts of the tables the playbook asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub users: i64,
    pub active_tokens: i64,
    pub user_providers: i64,
    pub user_rotations: i64,
}

/// A user's route ids by kind; `None` for a list that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRoutes {
    pub providers: Option<BTreeSet<String>>,
    pub rotations: Option<BTreeSet<String>>,
    pub autoselects: Option<BTreeSet<String>>,
}

impl UserRoutes {
    fn kinds(&self) -> [(&'static str, Option<&BTreeSet<String>>); 3] {
        [
            ("provider", self.providers.as_ref()),
            ("rotation", self.rotations.as_ref()),
            ("autoselect", self.autoselects.as_ref()),
        ]
    }
}

/// Everything the probe saw, before any judgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbObservation {
    pub backend: &'static str,
    pub connected: Result<(), ConnectFailure>,
    pub version: String,
    pub latency_ms: u64,
    pub columns: Result<BTreeSet<(String, String)>, String>,
    pub counts: Result<Counts, String>,
    pub user: Result<Option<UserRow>, String>,
    pub token: Result<Option<TokenRow>, String>,
    pub user_name: String,
    /// `cluster.user`'s rows in user_providers, user_rotations and
    /// user_autoselects (`None` when the user is not in the database).
    pub routes: Result<Option<UserRoutes>, String>,
}

impl DbObservation {
    fn failed(backend: &'static str, user: &str, why: ConnectFailure) -> Self {
        fn skipped<T>() -> Result<T, String> {
            Err("not connected".to_string())
        }
        DbObservation {
            backend,
            connected: Err(why),
            version: String::new(),
            latency_ms: 0,
            columns: skipped(),
            counts: skipped(),
            user: skipped(),
            token: skipped(),
            user_name: user.to_string(),
            routes: skipped(),
        }
    }
}

/// SQL that differs between the two backends.
struct Dialect {
    version: &'static str,
    columns: &'static str,
    user: &'static str,
    token: &'static str,
    /// The user's provider, rotation and autoselect ids (`user_id = ?`, `LIMIT ?`).
    routes: [&'static str; 3],
}

const MYSQL: Dialect = Dialect {
    version: "SELECT CAST(VERSION() AS CHAR) LIMIT 1",
    columns: "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
              WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2 LIMIT ?",
    user: "SELECT CAST(id AS SIGNED), CAST(is_active AS SIGNED) FROM users WHERE username = ? LIMIT 1",
    token: "SELECT CAST(user_id AS SIGNED), CAST(is_active AS SIGNED), CAST(scope AS CHAR) \
            FROM user_api_tokens WHERE token = ? ORDER BY 2 DESC, (user_id = ?) DESC LIMIT 1",
    routes: [
        "SELECT CAST(provider_id AS CHAR) FROM user_providers WHERE user_id = ? ORDER BY 1 LIMIT ?",
        "SELECT CAST(rotation_id AS CHAR) FROM user_rotations WHERE user_id = ? ORDER BY 1 LIMIT ?",
        "SELECT CAST(autoselect_id AS CHAR) FROM user_autoselects WHERE user_id = ? ORDER BY 1 LIMIT ?",
    ],
};

const SQLITE: Dialect = Dialect {
    version: "SELECT 'SQLite ' || sqlite_version() LIMIT 1",
    columns: "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
              WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1, 2 LIMIT ?",
    user: "SELECT CAST(id AS INTEGER), CAST(is_active AS INTEGER) FROM users WHERE username = ? LIMIT 1",
    token: "SELECT CAST(user_id AS INTEGER), CAST(is_active AS INTEGER), CAST(scope AS TEXT) \
            FROM user_api_tokens WHERE token = ? ORDER BY 2 DESC, (user_id = ?) DESC LIMIT 1",
    routes: [
        "SELECT CAST(provider_id AS TEXT) FROM user_providers WHERE user_id = ? ORDER BY 1 LIMIT ?",
        "SELECT CAST(rotation_id AS TEXT) FROM user_rotations WHERE user_id = ? ORDER BY 1 LIMIT ?",
        "SELECT CAST(autoselect_id AS TEXT) FROM user_autoselects WHERE user_id = ? ORDER BY 1 LIMIT ?",
    ],
};

const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM users), \
     (SELECT COUNT(*) FROM user_api_tokens WHERE is_active = 1), \
     (SELECT COUNT(*) FROM user_providers), (SELECT COUNT(*) FROM user_rotations) LIMIT 1";

/// The read-only connect URL for the configured database.
fn connect_url(raw: &str) -> (&'static str, String) {
    if let Some(rest) = raw.strip_prefix("mariadb://") {
        return ("mysql", format!("mysql://{rest}"));
    }
    if raw.starts_with("sqlite:") {
        let sep = if raw.contains('?') { '&' } else { '?' };
        return ("sqlite", format!("{raw}{sep}mode=ro"));
    }
    ("mysql", raw.to_string())
}

fn classify(e: &sqlx::Error) -> ConnectFailure {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let short = crate::http::truncate(&text, 300);
    if lower.contains("access denied") {
        ConnectFailure::AccessDenied(short)
    } else if lower.contains("unknown database") || lower.contains("unable to open database file") {
        ConnectFailure::NotFound(short)
    } else {
        ConnectFailure::Unreachable(short)
    }
}

async fn within<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(crate::http::truncate(&e.to_string(), 300)),
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

/// Connects read-only and runs the bounded queries.
pub async fn observe(url: &Secret, user: &str, token: &Secret, timeout: Duration) -> DbObservation {
    sqlx::any::install_default_drivers();
    let (backend, url) = connect_url(url.expose());
    let dialect = if backend == "sqlite" { &SQLITE } else { &MYSQL };
    let options = match url.parse::<sqlx::any::AnyConnectOptions>() {
        Ok(o) => o.disable_statement_logging(),
        Err(e) => {
            return DbObservation::failed(
                backend,
                user,
                ConnectFailure::Unreachable(format!(
                    "database.url cannot be used: {}",
                    crate::http::truncate(&e.to_string(), 200)
                )),
            );
        }
    };
    let started = Instant::now();
    let mut con: AnyConnection = match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return DbObservation::failed(backend, user, classify(&e)),
        Err(_) => {
            return DbObservation::failed(
                backend,
                user,
                ConnectFailure::Unreachable(format!(
                    "no connection within {} ms",
                    timeout.as_millis()
                )),
            );
        }
    };
    if backend == "mysql" {
        if let Err(e) = within(
            timeout,
            sqlx::query("SET SESSION TRANSACTION READ ONLY").execute(&mut con),
        )
        .await
        {
            tracing::debug!(error = %e, "could not set the session read-only");
        }
    }
    let version = within(timeout, sqlx::query(dialect.version).fetch_one(&mut con))
        .await
        .and_then(|r| r.try_get::<String, _>(0).map_err(|e| e.to_string()));
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let version = match version {
        Ok(v) => v,
        Err(e) => {
            return DbObservation::failed(backend, user, ConnectFailure::Unreachable(e));
        }
    };

    let columns = within(
        timeout,
        sqlx::query(dialect.columns)
            .bind(MAX_COLUMNS)
            .fetch_all(&mut con),
    )
    .await
    .and_then(|rows| {
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
            .collect::<Result<BTreeSet<_>, sqlx::Error>>()
            .map_err(|e| e.to_string())
    });
    let counts = within(timeout, sqlx::query(COUNTS).fetch_one(&mut con))
        .await
        .and_then(|r| {
            Ok(Counts {
                users: r.try_get(0).map_err(|e| e.to_string())?,
                active_tokens: r.try_get(1).map_err(|e| e.to_string())?,
                user_providers: r.try_get(2).map_err(|e| e.to_string())?,
                user_rotations: r.try_get(3).map_err(|e| e.to_string())?,
            })
        });
    let user_row = within(
        timeout,
        sqlx::query(dialect.user)
            .bind(user)
            .fetch_optional(&mut con),
    )
    .await
    .and_then(|r| {
        r.map(|r| {
            Ok(UserRow {
                id: r.try_get(0).map_err(|e| e.to_string())?,
                active: r.try_get::<i64, _>(1).map_err(|e| e.to_string())? != 0,
            })
        })
        .transpose()
    });
    let uid = user_row
        .as_ref()
        .ok()
        .and_then(|u| u.as_ref())
        .map(|u| u.id)
        .unwrap_or(-1);
    let token_row = within(
        timeout,
        sqlx::query(dialect.token)
            .bind(token.expose())
            .bind(uid)
            .fetch_optional(&mut con),
    )
    .await
    .and_then(|r| {
        r.map(|r| {
            Ok(TokenRow {
                user_id: r.try_get(0).map_err(|e| e.to_string())?,
                active: r.try_get::<i64, _>(1).map_err(|e| e.to_string())? != 0,
                scope: r.try_get(2).map_err(|e| e.to_string())?,
            })
        })
        .transpose()
    });
    let routes = match user_row.as_ref().ok().and_then(|u| u.as_ref()) {
        None => Ok(None),
        Some(u) => {
            let mut lists = Vec::with_capacity(3);
            for (sql, table) in
                dialect
                    .routes
                    .iter()
                    .zip(["user_providers", "user_rotations", "user_autoselects"])
            {
                let rows = within(
                    timeout,
                    sqlx::query(sql)
                        .bind(u.id)
                        .bind(MAX_ROUTES)
                        .fetch_all(&mut con),
                )
                .await
                .and_then(|rows| {
                    rows.iter()
                        .map(|r| r.try_get::<String, _>(0))
                        .collect::<Result<BTreeSet<_>, sqlx::Error>>()
                        .map_err(|e| e.to_string())
                })
                .and_then(|ids| {
                    if ids.len() as i64 >= MAX_ROUTES {
                        Err(format!(
                            "{table} has {MAX_ROUTES} or more rows for the user"
                        ))
                    } else {
                        Ok(ids)
                    }
                })
                .map_err(|e| format!("{table}: {e}"));
                lists.push(rows);
            }
            let mut lists = lists.into_iter();
            let mut next = || lists.next().unwrap_or_else(|| Err("not read".into()));
            match (next(), next(), next()) {
                (Ok(p), Ok(r), Ok(a)) => Ok(Some(UserRoutes {
                    providers: Some(p),
                    rotations: Some(r),
                    autoselects: Some(a),
                })),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
            }
        }
    };
    let _ = tokio::time::timeout(timeout, con.close()).await;
    DbObservation {
        backend,
        connected: Ok(()),
        version,
        latency_ms,
        columns,
        counts,
        user: user_row,
        token: token_row,
        user_name: user.to_string(),
        routes,
    }
}

/// The ids under `key` of a 200 JSON answer (`{"providers":{"<id>":{...}}}`).
fn route_ids(outcome: &Outcome, key: &str) -> Option<BTreeSet<String>> {
    let answer = outcome.as_ref().ok()?;
    if answer.status != 200 {
        return None;
    }
    let ids = answer.body.json()?.get(key)?.as_object()?;
    Some(ids.keys().cloned().collect())
}

/// One node's lists of the user's routes, asked with the user token.
pub async fn node_routes(http: &Http, base: &url::Url, user: &str, token: &Secret) -> UserRoutes {
    let url = |kind: &str| super::target::join(base, &format!("/api/u/{user}/{kind}"));
    let (p, r, a) = (url("providers"), url("rotations"), url("autoselects"));
    let (p, r, a) = tokio::join!(
        http.get(&p, Some(token)),
        http.get(&r, Some(token)),
        http.get(&a, Some(token)),
    );
    UserRoutes {
        providers: route_ids(&p, "providers"),
        rotations: route_ids(&r, "rotations"),
        autoselects: route_ids(&a, "autoselects"),
    }
}

/// Pure: each node's user routes against the database's. A node that
/// disagrees with the database is stale even when most nodes agree with it.
/// Nodes whose lists could not be read are left out (the health probe says why).
pub fn route_findings(
    user: &str,
    in_db: &UserRoutes,
    nodes: &[(String, UserRoutes)],
) -> Vec<Finding> {
    let mut stale = Vec::new();
    let mut fresh = Vec::new();
    for (node, seen) in nodes {
        let mut missing = Vec::new();
        let mut extra = Vec::new();
        let mut compared = Vec::new();
        for ((kind, db_ids), (_, node_ids)) in in_db.kinds().into_iter().zip(seen.kinds()) {
            let (Some(db_ids), Some(node_ids)) = (db_ids, node_ids) else {
                continue;
            };
            compared.push(format!("{kind}s ({})", db_ids.len()));
            missing.extend(db_ids.difference(node_ids).map(|id| format!("{kind} {id}")));
            extra.extend(node_ids.difference(db_ids).map(|id| format!("{kind} {id}")));
        }
        if compared.is_empty() {
            continue;
        }
        if missing.is_empty() && extra.is_empty() {
            fresh.push((node, compared));
        } else {
            stale.push((node, missing, extra));
        }
    }
    let compared = stale.len() + fresh.len();
    let mut out = Vec::new();
    for (node, missing, extra) in &stale {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing {} (in the database)", some(missing, 8)));
        }
        if !extra.is_empty() {
            parts.push(format!(
                "extra {} (no longer in the database)",
                some(extra, 8)
            ));
        }
        let mut message = format!(
            "{node} serves stale user routes for {user:?}: {}. AISBF caches a user's routes per process at first use and never refreshes them, so {node} does not see dashboard changes",
            parts.join("; ")
        );
        if stale.len() * 2 >= compared && compared > 1 {
            message.push_str(&format!(
                " ({} of {compared} nodes are stale: the database is the truth, not the majority)",
                stale.len()
            ));
        }
        out.push(finding(
            Severity::Fail,
            node,
            Code::NodeRoutesStale,
            message,
        ));
    }
    for (node, kinds) in fresh {
        out.push(finding(
            Severity::Ok,
            node,
            Code::NodeRoutesMatchDb,
            format!(
                "{node}'s user routes for {user:?} match the database: {}",
                kinds.join(", ")
            ),
        ));
    }
    out
}

/// The expected `(table, column)` set from the embedded schema file.
pub fn expected_schema() -> BTreeSet<(String, String)> {
    AISBF_SCHEMA
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(t, c)| (t.to_string(), c.trim().to_string()))
        .collect()
}

fn finding(sev: Severity, subject: &str, code: Code, message: String) -> Finding {
    Finding::new(ProbeKind::Db, sev, subject, code, message)
}

/// Names at most `n` items, then how many more.
fn some(items: &[String], n: usize) -> String {
    let mut s = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        s.push_str(&format!(" and {} more", items.len() - n));
    }
    s
}

/// Schema drift against AISBF 0.99.92: missing tables/columns fail, extra ones warn.
pub fn schema_findings(actual: &BTreeSet<(String, String)>) -> Finding {
    let expected = expected_schema();
    let tables = |s: &BTreeSet<(String, String)>| -> BTreeSet<String> {
        s.iter().map(|(t, _)| t.clone()).collect()
    };
    let (et, at) = (tables(&expected), tables(actual));
    let missing_tables: Vec<String> = et.difference(&at).cloned().collect();
    let extra_tables: Vec<String> = at.difference(&et).cloned().collect();
    let missing_cols: Vec<String> = expected
        .difference(actual)
        .filter(|(t, _)| at.contains(t))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    let extra_cols: Vec<String> = actual
        .difference(&expected)
        .filter(|(t, _)| et.contains(t))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    if missing_tables.is_empty()
        && missing_cols.is_empty()
        && extra_tables.is_empty()
        && extra_cols.is_empty()
    {
        return finding(
            Severity::Ok,
            "database",
            Code::DbSchemaOk,
            format!(
                "tables and columns match AISBF 0.99.92 ({} tables, {} columns)",
                et.len(),
                expected.len()
            ),
        );
    }
    let mut parts = Vec::new();
    if !missing_tables.is_empty() {
        parts.push(format!("missing tables: {}", some(&missing_tables, 8)));
    }
    if !missing_cols.is_empty() {
        parts.push(format!("missing columns: {}", some(&missing_cols, 8)));
    }
    if !extra_tables.is_empty() {
        parts.push(format!("extra tables: {}", some(&extra_tables, 8)));
    }
    if !extra_cols.is_empty() {
        parts.push(format!("extra columns: {}", some(&extra_cols, 8)));
    }
    let missing = !missing_tables.is_empty() || !missing_cols.is_empty();
    let level = if missing {
        "older than (or not) AISBF 0.99.92"
    } else {
        "newer than AISBF 0.99.92 or changed by hand"
    };
    finding(
        if missing {
            Severity::Fail
        } else {
            Severity::Warn
        },
        "database",
        Code::DbSchemaDrift,
        format!("migration level is {level}: {}", parts.join("; ")),
    )
}

/// Pure: findings from one observation.
pub fn assess(obs: &DbObservation) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Err(why) = &obs.connected {
        let (code, text) = match why {
            ConnectFailure::Unreachable(t) => (
                Code::DbUnreachable,
                format!("cannot reach the {} database: {t}", obs.backend),
            ),
            ConnectFailure::AccessDenied(t) => (
                Code::DbAccessDenied,
                format!("the {} database refused the login: {t}", obs.backend),
            ),
            ConnectFailure::NotFound(t) => (
                Code::DbNotFound,
                format!(
                    "the configured {} database does not exist: {t}",
                    obs.backend
                ),
            ),
        };
        out.push(finding(Severity::Fail, "database", code, text));
        return out;
    }
    out.push(
        finding(
            Severity::Ok,
            "database",
            Code::DbOk,
            format!(
                "{} {} answered in {} ms (read-only session)",
                obs.backend, obs.version, obs.latency_ms
            ),
        )
        .with_latency(Some(obs.latency_ms)),
    );
    match &obs.columns {
        Ok(cols) => out.push(schema_findings(cols)),
        Err(e) => out.push(finding(
            Severity::Fail,
            "database",
            Code::DbQueryFailed,
            format!("cannot read the table catalogue: {e}"),
        )),
    }
    match &obs.counts {
        Ok(c) => out.push(finding(
            Severity::Ok,
            "database",
            Code::DbDataOk,
            format!(
                "{} users, {} active tokens, {} user providers, {} user rotations",
                c.users, c.active_tokens, c.user_providers, c.user_rotations
            ),
        )),
        Err(e) => out.push(finding(
            Severity::Fail,
            "database",
            Code::DbQueryFailed,
            format!("cannot count users, tokens, user providers and rotations: {e}"),
        )),
    }
    let user = &obs.user_name;
    match &obs.user {
        Err(e) => out.push(finding(
            Severity::Fail,
            "user",
            Code::DbQueryFailed,
            format!("cannot look up user {user:?}: {e}"),
        )),
        Ok(None) => out.push(finding(
            Severity::Fail,
            "user",
            Code::DbUserMissing,
            format!("cluster.user {user:?} is not in the users table"),
        )),
        Ok(Some(u)) if !u.active => out.push(finding(
            Severity::Fail,
            "user",
            Code::DbUserMissing,
            format!("cluster.user {user:?} exists but is not active (users.is_active = 0)"),
        )),
        Ok(Some(_)) => {}
    }
    let uid = obs
        .user
        .as_ref()
        .ok()
        .and_then(|u| u.as_ref())
        .map(|u| u.id);
    match &obs.token {
        Err(e) => out.push(finding(Severity::Fail, "token", Code::DbQueryFailed, format!("cannot look up the configured token: {e}"))),
        Ok(None) => out.push(finding(Severity::Fail, "token", Code::DbTokenMissing, "the configured token is not in user_api_tokens".into())),
        Ok(Some(t)) if Some(t.user_id) != uid => out.push(finding(Severity::Fail, "token", Code::DbTokenMissing, format!("the configured token belongs to another user (user_id {}), not {user:?}", t.user_id))),
        Ok(Some(t)) if !t.active => out.push(finding(Severity::Fail, "token", Code::DbTokenMissing, format!("the configured token of {user:?} is revoked (is_active = 0, scope {})", t.scope))),
        // An mcp-only token is known to every node and still refused on /api:
        // that is the token's scope, not nodes missing the shared database.
        Ok(Some(t)) if t.scope.trim().eq_ignore_ascii_case("mcp") => out.push(finding(Severity::Fail, "token", Code::DbTokenNoApiScope, format!("the configured token of {user:?} is active but its scope is mcp only: AISBF refuses it on /api/u/... (\"This token does not have API access.\")"))),
        Ok(Some(t)) => out.push(finding(Severity::Ok, "token", Code::DbTokenActive, format!("the configured token exists in the shared database, active, for {user:?}, scope {}", t.scope))),
    }
    if let Err(e) = &obs.routes
        && obs.user.as_ref().is_ok_and(|u| u.is_some())
    {
        out.push(finding(
            Severity::Warn,
            "routes",
            Code::DbQueryFailed,
            format!("cannot read {user:?}'s providers, rotations and autoselects, so the nodes' routes are not compared with the database: {e}"),
        ));
    }
    out
}

/// Pure: each node's aisbf.json database against the cluster's `[database]`.
pub fn compare_nodes(
    cluster: Option<&DbTarget>,
    nodes: &[(String, Result<NodeData, String>)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, data) in nodes {
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                out.push(finding(
                    Severity::Warn,
                    name,
                    Code::NodeConfigUnreadable,
                    format!("cannot compare {name}'s database config: {e}"),
                ));
                continue;
            }
        };
        let Some(cluster) = cluster else { continue };
        let node = &data.database;
        if node == cluster {
            out.push(finding(
                Severity::Ok,
                name,
                Code::DbNodeOk,
                format!(
                    "{name}'s aisbf.json uses the cluster's database ({})",
                    node.describe()
                ),
            ));
            continue;
        }
        match (node, cluster) {
            (DbTarget::Sqlite { path }, DbTarget::Mysql { .. }) => out.push(finding(
                Severity::Fail,
                name,
                Code::DbNodeSqlite,
                format!(
                    "{name}'s aisbf.json says SQLite ({path}) while the cluster uses {}: {name} keeps users, tokens and user routes in its own file, so routes vanish on {name} (and tokens saved on the other nodes are unknown there)",
                    cluster.describe()
                ),
            )),
            _ => out.push(finding(
                Severity::Fail,
                name,
                Code::DbNodeOtherDatabase,
                format!(
                    "{name}'s aisbf.json points at {} while the cluster uses {}: {name} does not share users, tokens and routes with the other nodes",
                    node.describe(),
                    cluster.describe()
                ),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mysql(db: &str) -> DbTarget {
        DbTarget::Mysql {
            host: "127.0.0.1".into(),
            port: 3306,
            database: db.into(),
        }
    }

    fn node(db: DbTarget) -> NodeData {
        NodeData {
            database: db,
            cache_type: None,
            cache_prefix: "aisbf:".into(),
            response_backend: None,
            response_prefix: "aisbf:response:".into(),
        }
    }

    fn healthy() -> DbObservation {
        DbObservation {
            backend: "mysql",
            connected: Ok(()),
            version: "10.11".into(),
            latency_ms: 3,
            columns: Ok(expected_schema()),
            counts: Ok(Counts {
                users: 2,
                active_tokens: 4,
                user_providers: 2,
                user_rotations: 1,
            }),
            user: Ok(Some(UserRow {
                id: 1,
                active: true,
            })),
            token: Ok(Some(TokenRow {
                user_id: 1,
                active: true,
                scope: "both".into(),
            })),
            user_name: "alice".into(),
            routes: Ok(None),
        }
    }

    fn codes(f: &[Finding]) -> Vec<Code> {
        f.iter().map(|f| f.code).collect()
    }

    #[test]
    fn embedded_schema_names_the_real_tables() {
        let s = expected_schema();
        for t in [
            "users",
            "user_api_tokens",
            "user_providers",
            "user_rotations",
        ] {
            assert!(s.iter().any(|(x, _)| x == t), "{t}");
        }
        assert!(!s.iter().any(|(x, _)| x == "providers"));
        assert!(s.contains(&("user_api_tokens".into(), "scope".into())));
    }

    #[test]
    fn healthy_database_is_all_ok() {
        let f = assess(&healthy());
        assert!(f.iter().all(|f| f.severity == Severity::Ok), "{f:?}");
        assert_eq!(
            codes(&f),
            [
                Code::DbOk,
                Code::DbSchemaOk,
                Code::DbDataOk,
                Code::DbTokenActive
            ]
        );
        assert!(f[3].message.contains("scope both"));
    }

    #[test]
    fn connection_failures_are_single_clear_findings() {
        for (why, code) in [
            (
                ConnectFailure::Unreachable("refused".into()),
                Code::DbUnreachable,
            ),
            (
                ConnectFailure::AccessDenied("denied".into()),
                Code::DbAccessDenied,
            ),
            (ConnectFailure::NotFound("unknown".into()), Code::DbNotFound),
        ] {
            let f = assess(&DbObservation::failed("mysql", "alice", why));
            assert_eq!(codes(&f), [code]);
            assert_eq!(f[0].severity, Severity::Fail);
        }
    }

    #[test]
    fn missing_and_extra_columns_are_named() {
        let mut cols = expected_schema();
        cols.remove(&("user_api_tokens".into(), "scope".into()));
        cols.insert(("users".into(), "shoe_size".into()));
        let f = schema_findings(&cols);
        assert_eq!(f.code, Code::DbSchemaDrift);
        assert_eq!(f.severity, Severity::Fail);
        assert!(f.message.contains("user_api_tokens.scope"), "{}", f.message);
        assert!(f.message.contains("users.shoe_size"), "{}", f.message);
        let mut extra_only = expected_schema();
        extra_only.insert(("new_table".into(), "id".into()));
        assert_eq!(schema_findings(&extra_only).severity, Severity::Warn);
    }

    #[test]
    fn user_and_token_problems() {
        let mut o = healthy();
        o.user = Ok(None);
        o.token = Ok(Some(TokenRow {
            user_id: 7,
            active: true,
            scope: "api".into(),
        }));
        let f = assess(&o);
        assert!(codes(&f).contains(&Code::DbUserMissing));
        assert!(
            f.iter()
                .any(|f| f.code == Code::DbTokenMissing && f.message.contains("another user"))
        );
        let mut o = healthy();
        o.token = Ok(Some(TokenRow {
            user_id: 1,
            active: false,
            scope: "api".into(),
        }));
        assert!(
            assess(&o)
                .iter()
                .any(|f| f.code == Code::DbTokenMissing && f.message.contains("revoked"))
        );
        let mut o = healthy();
        o.user = Ok(Some(UserRow {
            id: 1,
            active: false,
        }));
        assert!(
            assess(&o)
                .iter()
                .any(|f| f.code == Code::DbUserMissing && f.message.contains("not active"))
        );
    }

    #[test]
    fn an_mcp_only_token_is_a_scope_problem_not_a_token_the_nodes_miss() {
        let mut o = healthy();
        o.token = Ok(Some(TokenRow {
            user_id: 1,
            active: true,
            scope: "mcp".into(),
        }));
        let f = assess(&o);
        assert!(codes(&f).contains(&Code::DbTokenNoApiScope), "{f:?}");
        assert!(!codes(&f).contains(&Code::DbTokenActive), "{f:?}");
    }

    #[test]
    fn node_on_sqlite_says_routes_vanish() {
        let nodes = vec![
            ("aisbf-1".to_string(), Ok(node(mysql("aisbf")))),
            (
                "aisbf-2".to_string(),
                Ok(node(DbTarget::Sqlite {
                    path: "/h/.aisbf/aisbf.db".into(),
                })),
            ),
            ("aisbf-3".to_string(), Ok(node(mysql("aisbf_b")))),
            ("aisbf-4".to_string(), Err("cannot read x".to_string())),
        ];
        let f = compare_nodes(Some(&mysql("aisbf")), &nodes);
        assert_eq!(
            codes(&f),
            [
                Code::DbNodeOk,
                Code::DbNodeSqlite,
                Code::DbNodeOtherDatabase,
                Code::NodeConfigUnreadable
            ]
        );
        assert!(f[1].message.contains("routes vanish"), "{}", f[1].message);
        assert_eq!(f[1].subject, "aisbf-2");
        assert!(f[2].message.contains("aisbf_b"));
    }

    #[test]
    fn connect_url_is_read_only_for_sqlite() {
        assert_eq!(
            connect_url("sqlite:///tmp/a.db").1,
            "sqlite:///tmp/a.db?mode=ro"
        );
        assert_eq!(
            connect_url("mariadb://u@h/d"),
            ("mysql", "mysql://u@h/d".to_string())
        );
    }

    fn routes(p: &[&str], r: &[&str], a: &[&str]) -> UserRoutes {
        let set = |x: &[&str]| Some(x.iter().map(|s| s.to_string()).collect());
        UserRoutes {
            providers: set(p),
            rotations: set(r),
            autoselects: set(a),
        }
    }

    #[test]
    fn a_stale_majority_is_stale_and_the_fresh_node_matches() {
        let db = routes(&["local-ollama"], &["new-rot"], &["chat-default"]);
        let stale = routes(&["local-ollama", "old-provider"], &[], &["chat-default"]);
        let f = route_findings(
            "alice",
            &db,
            &[
                ("aisbf-1".into(), stale.clone()),
                ("aisbf-2".into(), stale),
                ("aisbf-3".into(), db.clone()),
            ],
        );
        assert_eq!(
            codes(&f),
            [
                Code::NodeRoutesStale,
                Code::NodeRoutesStale,
                Code::NodeRoutesMatchDb
            ]
        );
        assert_eq!(f[0].subject, "aisbf-1");
        assert_eq!(f[0].severity, Severity::Fail);
        assert!(
            f[0].message.contains("missing rotation new-rot"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("extra provider old-provider"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("not the majority"),
            "{}",
            f[0].message
        );
        assert_eq!(f[2].subject, "aisbf-3");
    }

    #[test]
    fn unreadable_node_lists_are_not_compared() {
        let db = routes(&["p"], &[], &[]);
        let partial = UserRoutes {
            providers: Some(["p".to_string()].into()),
            ..UserRoutes::default()
        };
        let f = route_findings(
            "alice",
            &db,
            &[
                ("down".into(), UserRoutes::default()),
                ("half".into(), partial),
            ],
        );
        assert_eq!(codes(&f), [Code::NodeRoutesMatchDb]);
        assert_eq!(f[0].subject, "half");
        assert!(f[0].message.contains("providers (1)"), "{}", f[0].message);
    }

    #[test]
    fn a_failed_route_query_is_a_warning_on_routes() {
        let mut o = healthy();
        o.routes = Err("user_autoselects: no such table".into());
        let f = assess(&o);
        let q = f
            .iter()
            .find(|f| f.subject == "routes")
            .expect("routes finding");
        assert_eq!((q.code, q.severity), (Code::DbQueryFailed, Severity::Warn));
    }
}
