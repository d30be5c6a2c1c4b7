//! The `outbox` table: watch mode's announcements, recorded before they are
//! delivered.
//!
//! A leader records the intent (`pending`, with the run it announces and the
//! watch state it leads to), saves the watch state, delivers, and marks the row
//! `delivered` in the same transaction as the incident write the delivery
//! implies. A successor (a new leader on the same store) delivers the pending
//! rows it finds, once, before anything else. The only window left is between
//! the chat accepting a post and that commit.

use serde::Deserialize;
use sqlx::any::AnyRow;

use super::incidents::culprits_json;
use super::{Store, StoreError, clip, column, enum_str, now_ms, parse_enum, query_err, text};
use crate::engine::Report;
use crate::finding::{Finding, Severity};
use crate::verdict::Verdict;
use crate::watch::{Change, WatchState};

/// One pending announcement.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub id: i64,
    pub cluster: String,
    pub change: Change,
    /// The run the announcement is about.
    pub report: Report,
    /// The lease fence of the leader that recorded it.
    pub fence: i64,
}

/// The stored form of a [`Report`] (its JSON contract, read back).
#[derive(Deserialize)]
struct StoredReport {
    cluster: String,
    status: Severity,
    verdict: Verdict,
    findings: Vec<Finding>,
    elapsed_ms: u64,
}

const WHAT: &str = "read the outbox";

fn outgoing_from(r: &AnyRow) -> Result<Outgoing, StoreError> {
    let id: i64 = column(r, WHAT, "id")?;
    let report = text(r, WHAT, "report")?;
    let stored: StoredReport = serde_json::from_str(&report)
        .map_err(|source| StoreError::UnreadableOutbox { id, source })?;
    Ok(Outgoing {
        id,
        cluster: column(r, WHAT, "cluster")?,
        change: parse_enum("outbox.change_kind", column(r, WHAT, "change_kind")?)?,
        report: Report {
            cluster: stored.cluster,
            status: stored.status,
            verdict: stored.verdict,
            findings: stored.findings,
            elapsed_ms: stored.elapsed_ms,
            timings: Vec::new(),
        },
        fence: column(r, WHAT, "fence")?,
    })
}

const MARK: &str =
    "UPDATE outbox SET state = 'delivered', delivered_at_ms = ? WHERE id = ? AND state = 'pending'";

impl Store {
    /// Records the intent to announce `change` (pending); returns its id.
    /// `target` is the watch state the change leads to.
    pub async fn record_announcement(
        &self,
        cluster: &str,
        change: Change,
        report: &Report,
        target: &WatchState,
        fence: i64,
    ) -> Result<i64, StoreError> {
        let encode = |e| StoreError::EncodeWatchState { source: e };
        let report = serde_json::to_string(report).map_err(encode)?;
        let target = serde_json::to_string(target).map_err(encode)?;
        self.insert(
            "record an announcement",
            sqlx::query(
                "INSERT INTO outbox (cluster, change_kind, report, target, fence, state, created_at_ms) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
            )
            .bind(clip(cluster))
            .bind(enum_str(change))
            .bind(report)
            .bind(target)
            .bind(fence)
            .bind(now_ms()),
        )
        .await
    }

    /// The pending announcements of a cluster, oldest first.
    pub async fn pending_announcements(&self, cluster: &str) -> Result<Vec<Outgoing>, StoreError> {
        self.fetch_all_of(
            "list pending announcements",
            sqlx::query(
                "SELECT id, cluster, change_kind, report, fence FROM outbox WHERE cluster = ? AND state = 'pending' ORDER BY id",
            )
            .bind(cluster),
            outgoing_from,
        )
        .await
    }

    /// The newest recorded announcement of a cluster (pending or delivered)
    /// and the watch state it leads to.
    pub async fn newest_announcement(
        &self,
        cluster: &str,
    ) -> Result<Option<(i64, WatchState)>, StoreError> {
        const WHAT: &str = "read the newest announcement";
        let row = self
            .fetch_one_of(
                WHAT,
                sqlx::query(
                    "SELECT id, target FROM outbox WHERE cluster = ? ORDER BY id DESC LIMIT 1",
                )
                .bind(cluster),
                |r| Ok((column::<i64>(r, WHAT, "id")?, text(r, WHAT, "target")?)),
            )
            .await?;
        row.map(|(id, text)| {
            serde_json::from_str(&text)
                .map(|s| (id, s))
                .map_err(|source| StoreError::UnreadableOutbox { id, source })
        })
        .transpose()
    }

    /// Forgets an intent whose state write was refused (a deposed leader's).
    pub async fn discard_announcement(&self, id: i64) -> Result<(), StoreError> {
        self.execute(
            "discard an announcement",
            sqlx::query("DELETE FROM outbox WHERE id = ? AND state = 'pending'").bind(id),
        )
        .await
        .map(drop)
    }

    /// Marks a delivered announcement that wrote no incident; false when it
    /// was not pending any more.
    pub async fn mark_delivered(&self, id: i64) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "mark an announcement delivered",
                sqlx::query(MARK).bind(now_ms()).bind(id),
            )
            .await?;
        Ok(n > 0)
    }

    /// In one transaction: opens the incident a delivered new failure
    /// announced, with its thread, and marks the announcement delivered. When
    /// the row was already delivered (by another leader) nothing is written.
    pub async fn deliver_new_incident(
        &self,
        outbox_id: i64,
        cluster: &str,
        report: &Report,
        opened_by: &str,
        thread_id: &str,
    ) -> Result<bool, StoreError> {
        const WHAT: &str = "open a delivered incident";
        let mut tx = self.pool.begin().await.map_err(query_err(WHAT))?;
        self.insert_on(
                &mut tx,
                WHAT,
                sqlx::query(
                    "INSERT INTO incidents (cluster, state, layer, culprits, summary, thread_id, opened_at_ms, opened_by) VALUES (?, 'open', ?, ?, ?, ?, ?, ?)",
                )
                .bind(clip(cluster))
                .bind(enum_str(report.verdict.layer))
                .bind(culprits_json(report))
                .bind(&report.verdict.summary)
                .bind(thread_id)
                .bind(now_ms())
                .bind(clip(opened_by)),
            )
            .await?;
        finish(tx, outbox_id, WHAT).await
    }

    /// In one transaction: records the thread a delivered announcement opened
    /// for an incident that had none, and marks it delivered.
    pub async fn deliver_thread(
        &self,
        outbox_id: i64,
        incident_id: i64,
        thread_id: &str,
    ) -> Result<bool, StoreError> {
        const WHAT: &str = "set a delivered incident's thread";
        let mut tx = self.pool.begin().await.map_err(query_err(WHAT))?;
        sqlx::query("UPDATE incidents SET thread_id = ? WHERE id = ?")
            .bind(thread_id)
            .bind(incident_id)
            .execute(&mut *tx)
            .await
            .map_err(query_err(WHAT))?;
        finish(tx, outbox_id, WHAT).await
    }

    /// In one transaction: closes the incident a delivered recovery announced
    /// and marks the announcement delivered.
    pub async fn deliver_close(
        &self,
        outbox_id: i64,
        incident_id: i64,
        closed_by: &str,
        summary: &str,
    ) -> Result<bool, StoreError> {
        const WHAT: &str = "close a delivered incident";
        let mut tx = self.pool.begin().await.map_err(query_err(WHAT))?;
        sqlx::query(
            "UPDATE incidents SET state = 'closed', closed_at_ms = ?, closed_by = ?, summary = ? WHERE id = ? AND state = 'open'",
        )
        .bind(now_ms())
        .bind(clip(closed_by))
        .bind(summary)
        .bind(incident_id)
        .execute(&mut *tx)
        .await
        .map_err(query_err(WHAT))?;
        finish(tx, outbox_id, WHAT).await
    }
}

/// Marks the row delivered and commits; rolls back when it was not pending
/// (another leader delivered it and wrote the incident).
async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    outbox_id: i64,
    what: &'static str,
) -> Result<bool, StoreError> {
    let marked = sqlx::query(MARK)
        .bind(now_ms())
        .bind(outbox_id)
        .execute(&mut *tx)
        .await
        .map_err(query_err(what))?
        .rows_affected();
    if marked == 0 {
        tx.rollback().await.map_err(query_err(what))?;
        return Ok(false);
    }
    tx.commit().await.map_err(query_err(what))?;
    Ok(true)
}
