//! Incident memory: probe runs, their findings, incidents and follow-ups.
//!
//! SQLite by default (a file created on first start), MySQL/MariaDB when several
//! bot replicas share one store. Both go through sqlx's `Any` driver with `?`
//! placeholders, so every query is written once; only the migrations
//! (`migrations/sqlite`, `migrations/mysql`) differ by dialect. Times are Unix
//! milliseconds. A run is written as `running` before the probes start, so a
//! bot killed mid-run leaves a row that [`Store::mark_interrupted`] closes.
//!
//! This file owns opening, migrating and the query plumbing; each table's
//! queries live in their own file.

mod follow_ups;
mod incidents;
mod interactions;
mod outbox;
mod runs;
mod watch_state;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};

use crate::secret::Secret;

pub use follow_ups::FollowUp;
pub use incidents::{Incident, IncidentState};
pub use outbox::Outgoing;
pub use runs::RunRow;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/mysql");

/// The default store: a SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite://aisbf-doctor.db";

/// A store problem, phrased for the operator (never the URL: it may hold a password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL is not sqlite:// or mysql://.
    #[error("store url must start with sqlite://, mysql:// or mariadb://")]
    UnsupportedUrl,
    /// Connecting failed. `detail` is the driver's message with the URL's
    /// password scrubbed out, in case a driver ever echoes the URL.
    #[error("cannot open the store: {detail}")]
    Open {
        detail: String,
        #[source]
        source: sqlx::Error,
    },
    /// Connected, but the schema could not be brought up to date.
    #[error("cannot open the store: migrations failed: {source}")]
    Migrate {
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed; `what` names the operation.
    #[error("store query failed ({what}): {source}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A row just inserted could not be read back.
    #[error("store query failed: {what} vanished after insert")]
    Vanished { what: &'static str },
    /// A column holds a value this version does not know, e.g. a layer or
    /// finding code written by a newer (or older) aisbf-doctor sharing the store.
    #[error("store query failed: {column} holds {value:?}, which this version does not know")]
    UnknownValue { column: &'static str, value: String },
    /// The stored watch state of a cluster is not valid JSON for this version.
    #[error("store query failed: watch state of {cluster:?} is unreadable: {source}")]
    UnreadableWatchState {
        cluster: String,
        #[source]
        source: serde_json::Error,
    },
    /// The watch state could not be encoded.
    #[error("store query failed: cannot encode the watch state: {source}")]
    EncodeWatchState {
        #[source]
        source: serde_json::Error,
    },
    /// The encoded watch state does not fit its column.
    #[error("store query failed: watch state too large (too many culprits)")]
    WatchStateTooLarge,
    /// An outbox row could not be encoded or read back.
    #[error("store query failed: outbox row {id} is unreadable: {source}")]
    UnreadableOutbox {
        id: i64,
        #[source]
        source: serde_json::Error,
    },
}

/// Wraps a failed query's error with the operation it was for.
fn query_err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

/// Unix milliseconds now (0 before 1970, saturating far in the future).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    MySql,
}

/// A handle on the store; cheap to clone (one shared pool).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>;

/// Longest text kept per short column (the MySQL schema uses VARCHAR(4000)).
const MAX_TEXT: usize = 4000;

/// Longest encoded watch state (MEDIUMTEXT holds 16 MiB; a state with 10,000
/// culprits is well under 1 MiB).
const MAX_STATE: usize = 8 << 20;

fn clip(s: &str) -> String {
    crate::http::truncate(s, MAX_TEXT - 1)
}

impl Store {
    /// Opens (and for SQLite creates) the store and brings its schema up to date.
    pub async fn open(url: &Secret) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let raw = url.expose();
        let (url, migrator, backend) = if raw.starts_with("sqlite:") {
            // Create the file on first start.
            let url = if raw.contains('?') {
                raw.to_string()
            } else {
                format!("{raw}?mode=rwc")
            };
            (url, &SQLITE_MIGRATIONS, Backend::Sqlite)
        } else if raw.starts_with("mysql:") || raw.starts_with("mariadb:") {
            (
                raw.replacen("mariadb:", "mysql:", 1),
                &MYSQL_MIGRATIONS,
                Backend::MySql,
            )
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(&url)
            .await
            .map_err(|source| StoreError::Open {
                detail: crate::secret::Redactor::new([url_secret(raw)]).scrub(&source.to_string()),
                source,
            })?;
        migrator
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { source })?;
        Ok(Store { pool, backend })
    }

    /// Runs an INSERT and returns the new row's id.
    async fn insert(&self, what: &'static str, query: AnyQuery<'_>) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(query_err(what))?;
        self.insert_on(&mut conn, what, query).await
    }

    /// Runs an INSERT on `conn` (a pooled connection or a transaction) and
    /// returns the new row's id. The id is read on the same connection:
    /// sqlx's Any driver does not report SQLite's rowid itself.
    async fn insert_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        what: &'static str,
        query: AnyQuery<'_>,
    ) -> Result<i64, StoreError> {
        let r = query.execute(&mut *conn).await.map_err(query_err(what))?;
        if let Some(id) = r.last_insert_id() {
            return Ok(id);
        }
        let sql = match self.backend {
            Backend::Sqlite => "SELECT last_insert_rowid() AS id",
            Backend::MySql => "SELECT LAST_INSERT_ID() AS id",
        };
        let row = sqlx::query(sql)
            .fetch_one(&mut *conn)
            .await
            .map_err(query_err(what))?;
        row.try_get::<i64, _>("id").map_err(query_err(what))
    }

    /// Runs an UPDATE (or any statement) and returns the rows it touched.
    async fn execute(&self, what: &'static str, query: AnyQuery<'_>) -> Result<u64, StoreError> {
        let r = query.execute(&self.pool).await.map_err(query_err(what))?;
        Ok(r.rows_affected())
    }

    /// Runs a SELECT for at most one row and decodes it with `from`.
    async fn fetch_one_of<T>(
        &self,
        what: &'static str,
        query: AnyQuery<'_>,
        from: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = query
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err(what))?;
        row.as_ref().map(from).transpose()
    }

    /// Runs a SELECT and decodes every row with `from`.
    async fn fetch_all_of<T>(
        &self,
        what: &'static str,
        query: AnyQuery<'_>,
        from: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = query.fetch_all(&self.pool).await.map_err(query_err(what))?;
        rows.iter().map(from).collect()
    }
}

/// Reads one column of a row, naming the table in the error.
fn column<'r, T>(row: &'r AnyRow, what: &'static str, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name).map_err(query_err(what))
}

/// Reads a long-text column. MySQL reports MEDIUMTEXT as a blob type, which
/// sqlx's Any driver will not decode as a string: read the bytes then.
fn text(row: &AnyRow, what: &'static str, name: &str) -> Result<String, StoreError> {
    Ok(opt_text(row, what, name)?.unwrap_or_default())
}

/// The same for a nullable long-text column.
fn opt_text(row: &AnyRow, what: &'static str, name: &str) -> Result<Option<String>, StoreError> {
    match row.try_get::<Option<String>, _>(name) {
        Ok(s) => Ok(s),
        Err(sqlx::Error::ColumnDecode { .. }) => Ok(row
            .try_get::<Option<Vec<u8>>, _>(name)
            .map_err(query_err(what))?
            .map(|b| String::from_utf8_lossy(&b).into_owned())),
        Err(e) => Err(query_err(what)(e)),
    }
}

/// An enum as its serde name (`edit_infrastructure`), the form stored in text columns.
fn enum_str(v: impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The enum whose serde name is `value`; an unknown name is
/// [`StoreError::UnknownValue`], never a panic or a silent default.
fn parse_enum<T: DeserializeOwned>(column: &'static str, value: String) -> Result<T, StoreError> {
    use serde::de::IntoDeserializer;
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        value.as_str().into_deserializer();
    T::deserialize(de).map_err(|_| StoreError::UnknownValue { column, value })
}

fn url_secret(raw: &str) -> Secret {
    url::Url::parse(raw)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .map(Secret::new)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Code;
    use crate::verdict::Layer;

    #[test]
    fn stored_names_round_trip_and_unknown_ones_are_an_error() {
        assert_eq!(enum_str(Layer::Auth), "auth");
        let layer: Layer = parse_enum("incidents.layer", "auth".into()).expect("known");
        assert_eq!(layer, Layer::Auth);
        let code: Code =
            parse_enum("follow_ups.code", "token_rejected_on_node".into()).expect("known");
        assert_eq!(code, Code::TokenRejectedOnNode);
        let err =
            parse_enum::<Layer>("incidents.layer", "quantum".into()).expect_err("unknown layer");
        assert!(
            matches!(&err, StoreError::UnknownValue { column: "incidents.layer", value } if value == "quantum"),
            "{err}"
        );
    }
}
