//! The I/O of `check db`: one read-only connection and bounded queries, and
//! what they returned, before any judgement.

use std::collections::BTreeSet;
use std::time::Instant;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, ConnectOptions, Connection, Row};

use super::connect::{classify, connect_url, within};
use crate::http::Budget;
use crate::secret::Secret;

/// Most columns read from the catalogue (AISBF 0.99.92 has 333).
const MAX_COLUMNS: i64 = 5000;
/// Most ids read per route table for one user.
const MAX_ROUTES: i64 = 10_000;

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
    pub(super) fn kinds(&self) -> [(&'static str, Option<&BTreeSet<String>>); 3] {
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
    pub(super) fn failed(backend: &'static str, user: &str, why: ConnectFailure) -> Self {
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

/// Connects read-only and runs the bounded queries, each within `budget`.
pub async fn observe(url: &Secret, user: &str, token: &Secret, budget: Budget) -> DbObservation {
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
    let mut con: AnyConnection = match budget.run(options.connect()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return DbObservation::failed(backend, user, classify(&e)),
        Err(out) => {
            return DbObservation::failed(
                backend,
                user,
                ConnectFailure::Unreachable(out.describe("connection")),
            );
        }
    };
    if backend == "mysql" {
        let read_only = sqlx::query("SET SESSION TRANSACTION READ ONLY").execute(&mut con);
        if let Err(e) = within(budget, read_only).await {
            tracing::debug!(error = %e, "could not set the session read-only");
        }
    }
    let version = within(budget, sqlx::query(dialect.version).fetch_one(&mut con))
        .await
        .and_then(|r| col::<String>(&r, 0));
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let version = match version {
        Ok(v) => v,
        Err(e) => {
            return DbObservation::failed(backend, user, ConnectFailure::Unreachable(e));
        }
    };

    let columns = sqlx::query(dialect.columns)
        .bind(MAX_COLUMNS)
        .fetch_all(&mut con);
    let columns = within(budget, columns).await.and_then(|rows| {
        rows.iter()
            .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
            .collect::<Result<BTreeSet<_>, String>>()
    });
    let counts = within(budget, sqlx::query(COUNTS).fetch_one(&mut con))
        .await
        .and_then(|r| {
            Ok(Counts {
                users: col(&r, 0)?,
                active_tokens: col(&r, 1)?,
                user_providers: col(&r, 2)?,
                user_rotations: col(&r, 3)?,
            })
        });
    let user_row = sqlx::query(dialect.user)
        .bind(user)
        .fetch_optional(&mut con);
    let user_row = within(budget, user_row).await.and_then(|r| {
        r.map(|r| {
            Ok(UserRow {
                id: col(&r, 0)?,
                active: col::<i64>(&r, 1)? != 0,
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
    let token_row = sqlx::query(dialect.token)
        .bind(token.expose())
        .bind(uid)
        .fetch_optional(&mut con);
    let token_row = within(budget, token_row).await.and_then(|r| {
        r.map(|r| {
            Ok(TokenRow {
                user_id: col(&r, 0)?,
                active: col::<i64>(&r, 1)? != 0,
                scope: col(&r, 2)?,
            })
        })
        .transpose()
    });
    let routes = match user_row.as_ref().ok().and_then(|u| u.as_ref()) {
        None => Ok(None),
        Some(u) => user_routes(&mut con, budget, dialect, u.id).await.map(Some),
    };
    let _ = budget.run(con.close()).await;
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

/// Column `i` of a row; a type mismatch as text.
fn col<'r, T>(row: &'r AnyRow, i: usize) -> Result<T, String>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(i).map_err(|e| e.to_string())
}

/// The user's provider, rotation and autoselect ids; the first list that
/// cannot be read (or is too long to be whole) is the error.
async fn user_routes(
    con: &mut AnyConnection,
    budget: Budget,
    dialect: &Dialect,
    user_id: i64,
) -> Result<UserRoutes, String> {
    let mut lists = Vec::with_capacity(3);
    for (sql, table) in
        dialect
            .routes
            .iter()
            .zip(["user_providers", "user_rotations", "user_autoselects"])
    {
        let rows = sqlx::query(sql)
            .bind(user_id)
            .bind(MAX_ROUTES)
            .fetch_all(&mut *con);
        let ids = within(budget, rows)
            .await
            .and_then(|rows| rows.iter().map(|r| col::<String>(r, 0)).collect())
            .and_then(|ids: BTreeSet<String>| {
                if ids.len() as i64 >= MAX_ROUTES {
                    Err(format!(
                        "{table} has {MAX_ROUTES} or more rows for the user"
                    ))
                } else {
                    Ok(ids)
                }
            })
            .map_err(|e| format!("{table}: {e}"))?;
        lists.push(ids);
    }
    let mut lists = lists.into_iter();
    Ok(UserRoutes {
        providers: lists.next(),
        rotations: lists.next(),
        autoselects: lists.next(),
    })
}
