//! Incident memory: probe runs, their findings, incidents and follow-ups.
//!
//! SQLite by default (a file created on first start), MySQL/MariaDB when several
//! bot replicas share one store. Both go through sqlx's `Any` driver with `?`
//! placeholders, so every query is written once; only the migrations
//! (`migrations/sqlite`, `migrations/mysql`) differ by dialect. Times are Unix
//! milliseconds. A run is written as `running` before the probes start, so a
//! bot killed mid-run leaves a row that [`Store::mark_interrupted`] closes.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};

use crate::engine::Report;
use crate::finding::{ProbeKind, Severity};
use crate::secret::Secret;
use crate::verdict::Action;

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
    /// Connecting or migrating failed.
    #[error("cannot open the store: {0}")]
    Open(String),
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(String),
}

fn query_err(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub cluster: String,
    /// `open` or `closed`.
    pub state: String,
    pub layer: String,
    pub culprits: Vec<String>,
    pub summary: String,
    pub thread_id: Option<String>,
    pub opened_at_ms: i64,
    pub opened_by: String,
    pub closed_at_ms: Option<i64>,
    pub closed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub cluster: String,
    pub subject: String,
    pub code: String,
    pub note: String,
    pub opened_at_ms: i64,
    pub repaired_at_ms: Option<i64>,
    pub last_reminded_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub cluster: String,
    pub started_at_ms: i64,
    pub requested_by: String,
    pub probes: String,
    pub status: String,
    pub layer: Option<String>,
    pub summary: Option<String>,
    pub elapsed_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    MySql,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Longest text kept per column (the MySQL schema uses VARCHAR(4000)).
const MAX_TEXT: usize = 4000;

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
            .map_err(|e| {
                StoreError::Open(
                    crate::secret::Redactor::new([url_secret(raw)]).scrub(&e.to_string()),
                )
            })?;
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Open(format!("migrations failed: {e}")))?;
        Ok(Store { pool, backend })
    }

    /// Runs an INSERT and returns the new row's id. The id is read on the same
    /// connection: sqlx's Any driver does not report SQLite's rowid itself.
    async fn insert<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(query_err)?;
        let r = query.execute(&mut *conn).await.map_err(query_err)?;
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
            .map_err(query_err)?;
        row.try_get::<i64, _>("id").map_err(query_err)
    }

    /// Records a run that is starting; returns its id.
    pub async fn start_run(
        &self,
        cluster: &str,
        requested_by: &str,
        probes: &[ProbeKind],
    ) -> Result<i64, StoreError> {
        let probes: Vec<&str> = probes.iter().map(|p| p.as_str()).collect();
        self.insert(
            sqlx::query(
                "INSERT INTO runs (cluster, started_at_ms, requested_by, probes, status) VALUES (?, ?, ?, ?, 'running')",
            )
            .bind(clip(cluster))
            .bind(now_ms())
            .bind(clip(requested_by))
            .bind(probes.join(",")),
        )
        .await
    }

    /// Records a finished run with its verdict and findings.
    pub async fn finish_run(&self, run_id: i64, report: &Report) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err)?;
        sqlx::query(
            "UPDATE runs SET finished_at_ms = ?, status = ?, layer = ?, action = ?, culprits = ?, summary = ?, elapsed_ms = ? WHERE id = ?",
        )
        .bind(now_ms())
        .bind(report.status.as_str())
        .bind(enum_str(report.verdict.layer))
        .bind(enum_str(report.verdict.action))
        .bind(clip(&serde_json::to_string(&report.verdict.culprits).unwrap_or_default()))
        .bind(clip(&report.verdict.summary))
        .bind(i64::try_from(report.elapsed_ms).unwrap_or(i64::MAX))
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(query_err)?;
        for f in &report.findings {
            sqlx::query(
                "INSERT INTO findings (run_id, probe, severity, subject, code, message) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(run_id)
            .bind(f.probe.as_str())
            .bind(f.severity.as_str())
            .bind(clip(&f.subject))
            .bind(f.code.as_str())
            .bind(clip(&f.message))
            .execute(&mut *tx)
            .await
            .map_err(query_err)?;
        }
        tx.commit().await.map_err(query_err)
    }

    /// Marks runs still `running` that started before `older_than_ms` as
    /// `interrupted` (their bot died); returns how many.
    pub async fn mark_interrupted(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE runs SET status = 'interrupted' WHERE status = 'running' AND started_at_ms < ?",
        )
        .bind(older_than_ms)
        .execute(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(r.rows_affected())
    }

    pub async fn recent_runs(&self, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, cluster, started_at_ms, requested_by, probes, status, layer, summary, elapsed_ms FROM runs ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        rows.iter()
            .map(|r| {
                Ok(RunRow {
                    id: r.try_get("id")?,
                    cluster: r.try_get("cluster")?,
                    started_at_ms: r.try_get("started_at_ms")?,
                    requested_by: r.try_get("requested_by")?,
                    probes: r.try_get("probes")?,
                    status: r.try_get("status")?,
                    layer: r.try_get("layer")?,
                    summary: r.try_get("summary")?,
                    elapsed_ms: r.try_get("elapsed_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(query_err)
    }

    /// The open incident of a cluster, if any.
    pub async fn open_incident_of(&self, cluster: &str) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE cluster = ? AND state = 'open' ORDER BY id DESC LIMIT 1"
        ))
        .bind(cluster)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err)?;
        row.as_ref()
            .map(incident_from)
            .transpose()
            .map_err(query_err)
    }

    /// Opens an incident for a failing report.
    pub async fn open_incident(
        &self,
        cluster: &str,
        report: &Report,
        opened_by: &str,
    ) -> Result<Incident, StoreError> {
        let id = self
            .insert(
                sqlx::query(
                    "INSERT INTO incidents (cluster, state, layer, culprits, summary, opened_at_ms, opened_by) VALUES (?, 'open', ?, ?, ?, ?, ?)",
                )
                .bind(clip(cluster))
                .bind(enum_str(report.verdict.layer))
                .bind(clip(&serde_json::to_string(&report.verdict.culprits).unwrap_or_default()))
                .bind(clip(&report.verdict.summary))
                .bind(now_ms())
                .bind(clip(opened_by)),
            )
            .await?;
        self.incident(id)
            .await?
            .ok_or_else(|| StoreError::Query("incident vanished after insert".into()))
    }

    pub async fn set_thread(&self, incident_id: i64, thread_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET thread_id = ? WHERE id = ?")
            .bind(thread_id)
            .bind(incident_id)
            .execute(&self.pool)
            .await
            .map_err(query_err)?;
        Ok(())
    }

    pub async fn close_incident(
        &self,
        incident_id: i64,
        closed_by: &str,
        summary: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET state = 'closed', closed_at_ms = ?, closed_by = ?, summary = ? WHERE id = ? AND state = 'open'",
        )
        .bind(now_ms())
        .bind(closed_by)
        .bind(summary)
        .bind(incident_id)
        .execute(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(())
    }

    pub async fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err)?;
        row.as_ref()
            .map(incident_from)
            .transpose()
            .map_err(query_err)
    }

    pub async fn incidents(&self, limit: i64) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY id DESC LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        rows.iter()
            .map(incident_from)
            .collect::<Result<_, _>>()
            .map_err(query_err)
    }

    /// Opens a follow-up for every infrastructure culprit of a failing report
    /// that has none open yet: drift worked around must still be repaired.
    pub async fn open_follow_ups(
        &self,
        cluster: &str,
        incident_id: Option<i64>,
        report: &Report,
    ) -> Result<Vec<FollowUp>, StoreError> {
        if report.verdict.action != Action::EditInfrastructure {
            return Ok(Vec::new());
        }
        let mut opened = Vec::new();
        for f in report
            .findings
            .iter()
            .filter(|f| f.severity == report.status && report.verdict.culprits.contains(&f.subject))
        {
            let code = f.code.as_str();
            let exists = sqlx::query(
                "SELECT id FROM follow_ups WHERE cluster = ? AND subject = ? AND code = ? AND repaired_at_ms IS NULL LIMIT 1",
            )
            .bind(cluster)
            .bind(&f.subject)
            .bind(code)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err)?;
            if exists.is_some() {
                continue;
            }
            let id = self
                .insert(
                    sqlx::query(
                        "INSERT INTO follow_ups (incident_id, cluster, subject, code, note, opened_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    )
                    .bind(incident_id)
                    .bind(clip(cluster))
                    .bind(clip(&f.subject))
                    .bind(code)
                    .bind(clip(&f.message))
                    .bind(now_ms()),
                )
                .await?;
            if let Some(fu) = self.follow_up(id).await? {
                opened.push(fu);
            }
        }
        Ok(opened)
    }

    pub async fn follow_up(&self, id: i64) -> Result<Option<FollowUp>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err)?;
        row.as_ref()
            .map(follow_up_from)
            .transpose()
            .map_err(query_err)
    }

    /// Follow-ups not yet repaired (all clusters when `cluster` is None).
    pub async fn open_follow_ups_of(
        &self,
        cluster: Option<&str>,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let rows = match cluster {
            Some(c) => sqlx::query(&format!(
                "SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE cluster = ? AND repaired_at_ms IS NULL ORDER BY id LIMIT 500"
            ))
            .bind(c)
            .fetch_all(&self.pool)
            .await,
            None => sqlx::query(&format!(
                "SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE repaired_at_ms IS NULL ORDER BY id LIMIT 500"
            ))
            .fetch_all(&self.pool)
            .await,
        }
        .map_err(query_err)?;
        rows.iter()
            .map(follow_up_from)
            .collect::<Result<_, _>>()
            .map_err(query_err)
    }

    pub async fn follow_ups_of_incident(
        &self,
        incident_id: i64,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {FOLLOW_UP_COLUMNS} FROM follow_ups WHERE incident_id = ? ORDER BY id LIMIT 500"
        ))
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err)?;
        rows.iter()
            .map(follow_up_from)
            .collect::<Result<_, _>>()
            .map_err(query_err)
    }

    /// Marks repaired every open follow-up that `report` shows fixed: its
    /// probe ran, and its subject no longer has a failing or warning finding
    /// with that code. Returns the repaired ones.
    pub async fn repair_follow_ups(
        &self,
        cluster: &str,
        report: &Report,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let mut repaired = Vec::new();
        for fu in self.open_follow_ups_of(Some(cluster)).await? {
            let still_broken = report.findings.iter().any(|f| {
                f.subject == fu.subject && f.code.as_str() == fu.code && f.severity > Severity::Ok
            });
            let looked = report.findings.iter().any(|f| f.subject == fu.subject);
            if looked && !still_broken {
                sqlx::query("UPDATE follow_ups SET repaired_at_ms = ? WHERE id = ?")
                    .bind(now_ms())
                    .bind(fu.id)
                    .execute(&self.pool)
                    .await
                    .map_err(query_err)?;
                repaired.push(fu);
            }
        }
        Ok(repaired)
    }

    pub async fn mark_reminded(&self, follow_up_id: i64, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE follow_ups SET last_reminded_at_ms = ? WHERE id = ?")
            .bind(at_ms)
            .bind(follow_up_id)
            .execute(&self.pool)
            .await
            .map_err(query_err)?;
        Ok(())
    }

    /// Records an interaction id; false when it was already seen (Discord may
    /// deliver an interaction more than once, and several replicas may get it).
    pub async fn claim_interaction(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("INSERT INTO interactions (id, seen_at_ms) VALUES (?, ?)")
            .bind(id)
            .bind(now_ms())
            .execute(&self.pool)
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(query_err(e)),
        }
    }
}

const INCIDENT_COLUMNS: &str = "id, cluster, state, layer, culprits, summary, thread_id, opened_at_ms, opened_by, closed_at_ms, closed_by";
const FOLLOW_UP_COLUMNS: &str = "id, incident_id, cluster, subject, code, note, opened_at_ms, repaired_at_ms, last_reminded_at_ms";

fn incident_from(r: &AnyRow) -> Result<Incident, sqlx::Error> {
    let culprits: String = r.try_get("culprits")?;
    Ok(Incident {
        id: r.try_get("id")?,
        cluster: r.try_get("cluster")?,
        state: r.try_get("state")?,
        layer: r.try_get("layer")?,
        culprits: serde_json::from_str(&culprits).unwrap_or_default(),
        summary: r.try_get("summary")?,
        thread_id: r.try_get("thread_id")?,
        opened_at_ms: r.try_get("opened_at_ms")?,
        opened_by: r.try_get("opened_by")?,
        closed_at_ms: r.try_get("closed_at_ms")?,
        closed_by: r.try_get("closed_by")?,
    })
}

fn follow_up_from(r: &AnyRow) -> Result<FollowUp, sqlx::Error> {
    Ok(FollowUp {
        id: r.try_get("id")?,
        incident_id: r.try_get("incident_id")?,
        cluster: r.try_get("cluster")?,
        subject: r.try_get("subject")?,
        code: r.try_get("code")?,
        note: r.try_get("note")?,
        opened_at_ms: r.try_get("opened_at_ms")?,
        repaired_at_ms: r.try_get("repaired_at_ms")?,
        last_reminded_at_ms: r.try_get("last_reminded_at_ms")?,
    })
}

fn enum_str(v: impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn url_secret(raw: &str) -> Secret {
    url::Url::parse(raw)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .map(Secret::new)
        .unwrap_or_default()
}

/// Watch mode's shared state (see `watch_runner`): one row per cluster.
impl Store {
    /// The watch state last written for `cluster`, if any.
    pub async fn watch_state(
        &self,
        cluster: &str,
    ) -> Result<Option<crate::watch::WatchState>, StoreError> {
        let row = sqlx::query("SELECT state FROM watch_state WHERE cluster = ?")
            .bind(cluster)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let text: String = row.try_get("state").map_err(query_err)?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            StoreError::Query(format!("watch state of {cluster:?} is unreadable: {e}"))
        })
    }

    /// Writes the watch state of `cluster` unless a leader with a newer lease
    /// fence already wrote it; returns whether it was written.
    pub async fn save_watch_state(
        &self,
        cluster: &str,
        state: &crate::watch::WatchState,
        fence: i64,
    ) -> Result<bool, StoreError> {
        let text = serde_json::to_string(state)
            .map_err(|e| StoreError::Query(format!("cannot encode the watch state: {e}")))?;
        if text.len() >= MAX_TEXT {
            return Err(StoreError::Query(
                "watch state too large (too many culprits)".into(),
            ));
        }
        let inserted = sqlx::query(
            "INSERT INTO watch_state (cluster, state, fence, updated_at_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(clip(cluster))
        .bind(&text)
        .bind(fence)
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => return Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
            Err(e) => return Err(query_err(e)),
        }
        let r = sqlx::query(
            "UPDATE watch_state SET state = ?, fence = ?, updated_at_ms = ? WHERE cluster = ? AND fence <= ?",
        )
        .bind(&text)
        .bind(fence)
        .bind(now_ms())
        .bind(cluster)
        .bind(fence)
        .execute(&self.pool)
        .await
        .map_err(query_err)?;
        Ok(r.rows_affected() > 0)
    }
}
