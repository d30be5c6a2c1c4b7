//! The `runs` and `findings` tables: one row per probe run and its findings.

use serde::Serialize;
use sqlx::any::AnyRow;

use super::{Store, StoreError, clip, column, enum_str, now_ms, opt_text, query_err};
use crate::engine::Report;
use crate::finding::ProbeKind;

/// A run as listed by [`Store::recent_runs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub cluster: String,
    pub started_at_ms: i64,
    pub requested_by: String,
    /// Comma-separated probe names.
    pub probes: String,
    /// `running`, `interrupted` or the report's status (`ok`, `fail`, ...).
    pub status: String,
    pub layer: Option<String>,
    pub summary: Option<String>,
    pub elapsed_ms: Option<i64>,
}

const WHAT: &str = "read a run";

fn run_from(r: &AnyRow) -> Result<RunRow, StoreError> {
    Ok(RunRow {
        id: column(r, WHAT, "id")?,
        cluster: column(r, WHAT, "cluster")?,
        started_at_ms: column(r, WHAT, "started_at_ms")?,
        requested_by: column(r, WHAT, "requested_by")?,
        probes: column(r, WHAT, "probes")?,
        status: column(r, WHAT, "status")?,
        layer: column(r, WHAT, "layer")?,
        summary: opt_text(r, WHAT, "summary")?,
        elapsed_ms: column(r, WHAT, "elapsed_ms")?,
    })
}

impl Store {
    /// Records a run that is starting; returns its id.
    pub async fn start_run(
        &self,
        cluster: &str,
        requested_by: &str,
        probes: &[ProbeKind],
    ) -> Result<i64, StoreError> {
        let probes: Vec<&str> = probes.iter().map(|p| p.as_str()).collect();
        self.insert(
            "start a run",
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

    /// Records a finished run with its verdict and findings, in one transaction.
    pub async fn finish_run(&self, run_id: i64, report: &Report) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(query_err("finish a run"))?;
        sqlx::query(
            "UPDATE runs SET finished_at_ms = ?, status = ?, layer = ?, action = ?, culprits = ?, summary = ?, elapsed_ms = ? WHERE id = ?",
        )
        .bind(now_ms())
        .bind(report.status.as_str())
        .bind(enum_str(report.verdict.layer))
        .bind(enum_str(report.verdict.action))
        .bind(serde_json::to_string(&report.verdict.culprits).unwrap_or_default())
        .bind(&report.verdict.summary)
        .bind(i64::try_from(report.elapsed_ms).unwrap_or(i64::MAX))
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(query_err("finish a run"))?;
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
            .map_err(query_err("record a finding"))?;
        }
        tx.commit().await.map_err(query_err("finish a run"))
    }

    /// Marks runs still `running` that started before `older_than_ms` as
    /// `interrupted` (their bot died); returns how many.
    pub async fn mark_interrupted(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        self.execute(
            "mark interrupted runs",
            sqlx::query(
                "UPDATE runs SET status = 'interrupted' WHERE status = 'running' AND started_at_ms < ?",
            )
            .bind(older_than_ms),
        )
        .await
    }

    /// The newest `limit` runs, newest first.
    pub async fn recent_runs(&self, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        self.fetch_all_of(
            "list runs",
            sqlx::query(
                "SELECT id, cluster, started_at_ms, requested_by, probes, status, layer, summary, elapsed_ms FROM runs ORDER BY id DESC LIMIT ?",
            )
            .bind(limit),
            run_from,
        )
        .await
    }
}
