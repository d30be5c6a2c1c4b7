//! A fresh MariaDB database per test, through sqlx (no `mariadb` CLI).
//!
//! Not `#[sqlx::test]`: most of our tests hand a URL to the binary or to
//! `Store::open`, and `sqlx::test` hands out a pool, not a URL.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use sqlx::mysql::MySqlConnection;

use super::on_side_runtime;

/// The server the suite expects (CI starts it): root, empty password.
const SERVER: &str = "mysql://root@127.0.0.1:3306";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A database named for this test, dropped when the guard goes.
pub struct TestDb {
    pub name: String,
    /// What makes the name unique (`<pid>_<seq>`), for naming other per-test things.
    pub unique: String,
}

impl TestDb {
    /// Creates an empty database; `tag` makes its name readable in `SHOW DATABASES`.
    pub fn create(tag: &str) -> TestDb {
        let unique = format!(
            "{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let name = format!("aisbf_t_{tag}_{unique}");
        run_sql(None, format!("CREATE DATABASE `{name}`"))
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        TestDb { name, unique }
    }

    /// `mysql://root@127.0.0.1:3306/<name>`.
    pub fn url(&self) -> String {
        format!("{SERVER}/{}", self.name)
    }

    /// The URL as the secret `Store::open` takes.
    pub fn secret_url(&self) -> aisbf_doctor::secret::Secret {
        aisbf_doctor::secret::Secret::new(self.url())
    }

    /// Runs one or more `;`-separated statements in this database.
    pub fn exec(&self, sql: &str) {
        mariadb_exec(&self.name, sql);
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = run_sql(None, format!("DROP DATABASE IF EXISTS `{}`", self.name));
    }
}

/// Runs `;`-separated statements in database `db` (one the test did not
/// create, e.g. a real cluster's), panicking on failure.
pub fn mariadb_exec(db: &str, sql: &str) {
    if let Err(e) = run_sql(Some(db.to_string()), sql.to_string()) {
        panic!("{sql}: {e}");
    }
}

fn run_sql(db: Option<String>, sql: String) -> Result<(), sqlx::Error> {
    on_side_runtime(move || async move {
        let url = match db {
            Some(db) => format!("{SERVER}/{db}"),
            None => format!("{SERVER}/"),
        };
        let mut conn = MySqlConnection::connect(&url).await?;
        sqlx::raw_sql(&sql).execute(&mut conn).await?;
        conn.close().await
    })
}
