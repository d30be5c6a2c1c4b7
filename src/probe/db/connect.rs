//! Connecting read-only within the run's budget, and why a connection failed
//! (from the driver's typed errors, never its message text).

use sqlx::error::DatabaseError;
use sqlx::mysql::MySqlDatabaseError;
use sqlx::sqlite::SqliteError;

use super::observe::ConnectFailure;
use crate::http::Budget;

/// MySQL and MariaDB error numbers that mean the login was refused:
/// ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR.
const MYSQL_ACCESS_DENIED: [u16; 3] = [1044, 1045, 1698];
/// ER_BAD_DB_ERROR: "Unknown database".
const MYSQL_UNKNOWN_DATABASE: u16 = 1049;
/// SQLITE_CANTOPEN, the primary result code of a file SQLite cannot open.
const SQLITE_CANTOPEN: i32 = 14;

/// The read-only connect URL for the configured database.
pub(super) fn connect_url(raw: &str) -> (&'static str, String) {
    if let Some(rest) = raw.strip_prefix("mariadb://") {
        return ("mysql", format!("mysql://{rest}"));
    }
    if raw.starts_with("sqlite:") {
        let sep = if raw.contains('?') { '&' } else { '?' };
        return ("sqlite", format!("{raw}{sep}mode=ro"));
    }
    ("mysql", raw.to_string())
}

/// Why a connection failed, by the database's error number; everything that
/// is not the database answering (I/O, TLS, protocol, pool) is unreachable.
pub(super) fn classify(e: &sqlx::Error) -> ConnectFailure {
    let short = crate::http::truncate(&e.to_string(), 300);
    let sqlx::Error::Database(db) = e else {
        return ConnectFailure::Unreachable(short);
    };
    if let Some(mysql) = db.try_downcast_ref::<MySqlDatabaseError>() {
        match mysql.number() {
            n if MYSQL_ACCESS_DENIED.contains(&n) => ConnectFailure::AccessDenied(short),
            MYSQL_UNKNOWN_DATABASE => ConnectFailure::NotFound(short),
            _ => ConnectFailure::Unreachable(short),
        }
    } else if db
        .try_downcast_ref::<SqliteError>()
        .and_then(|e| e.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == SQLITE_CANTOPEN)
    {
        ConnectFailure::NotFound(short)
    } else {
        ConnectFailure::Unreachable(short)
    }
}

/// Runs one query within the run's budget; its error as a short text.
pub(super) async fn within<T>(
    budget: Budget,
    query: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, String> {
    match budget.run(query).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(crate::http::truncate(&e.to_string(), 300)),
        Err(out) => Err(out.describe("answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
