//! The `incidents` table: one row per failure episode of a cluster, open until
//! someone (or a recovery) closes it.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use super::{Store, StoreError, clip, column, enum_str, now_ms, parse_enum, text};
use crate::engine::Report;
use crate::verdict::Layer;

/// Whether an incident is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum IncidentState {
    Open,
    Closed,
}

impl std::fmt::Display for IncidentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad` so that width specifiers (`{:<6}`) work in listings.
        f.pad((*self).into())
    }
}

/// Lets a state be compared with its stored name (`state == "open"`).
impl PartialEq<&str> for IncidentState {
    fn eq(&self, other: &&str) -> bool {
        <&str>::from(*self) == *other
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub cluster: String,
    pub state: IncidentState,
    pub layer: Layer,
    pub culprits: Vec<String>,
    pub summary: String,
    pub thread_id: Option<String>,
    pub opened_at_ms: i64,
    pub opened_by: String,
    pub closed_at_ms: Option<i64>,
    pub closed_by: Option<String>,
}

pub(super) const COLUMNS: &str = "id, cluster, state, layer, culprits, summary, thread_id, opened_at_ms, opened_by, closed_at_ms, closed_by";
const WHAT: &str = "read an incident";

/// The culprits column: every culprit, uncut (chat renderers cut what they show).
pub(super) fn culprits_json(report: &Report) -> String {
    serde_json::to_string(&report.verdict.culprits).unwrap_or_default()
}

pub(super) fn incident_from(r: &AnyRow) -> Result<Incident, StoreError> {
    let culprits = text(r, WHAT, "culprits")?;
    Ok(Incident {
        id: column(r, WHAT, "id")?,
        cluster: column(r, WHAT, "cluster")?,
        state: parse_enum("incidents.state", column(r, WHAT, "state")?)?,
        layer: parse_enum("incidents.layer", column(r, WHAT, "layer")?)?,
        // Culprits are informative only: an unreadable list reads as none.
        culprits: serde_json::from_str(&culprits).unwrap_or_default(),
        summary: text(r, WHAT, "summary")?,
        thread_id: column(r, WHAT, "thread_id")?,
        opened_at_ms: column(r, WHAT, "opened_at_ms")?,
        opened_by: column(r, WHAT, "opened_by")?,
        closed_at_ms: column(r, WHAT, "closed_at_ms")?,
        closed_by: column(r, WHAT, "closed_by")?,
    })
}

impl Store {
    /// The open incident of a cluster, if any.
    pub async fn open_incident_of(&self, cluster: &str) -> Result<Option<Incident>, StoreError> {
        self.fetch_one_of(
            "find the open incident",
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM incidents WHERE cluster = ? AND state = 'open' ORDER BY id DESC LIMIT 1"
            ))
            .bind(cluster),
            incident_from,
        )
        .await
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
                "open an incident",
                sqlx::query(
                    "INSERT INTO incidents (cluster, state, layer, culprits, summary, opened_at_ms, opened_by) VALUES (?, 'open', ?, ?, ?, ?, ?)",
                )
                .bind(clip(cluster))
                .bind(enum_str(report.verdict.layer))
                .bind(culprits_json(report))
                .bind(&report.verdict.summary)
                .bind(now_ms())
                .bind(clip(opened_by)),
            )
            .await?;
        self.incident(id)
            .await?
            .ok_or(StoreError::Vanished { what: "incident" })
    }

    /// Remembers the Discord thread an incident is discussed in.
    pub async fn set_thread(&self, incident_id: i64, thread_id: &str) -> Result<(), StoreError> {
        self.execute(
            "set an incident's thread",
            sqlx::query("UPDATE incidents SET thread_id = ? WHERE id = ?")
                .bind(thread_id)
                .bind(incident_id),
        )
        .await
        .map(drop)
    }

    /// Closes an open incident with a final summary (a closed one stays as it was).
    pub async fn close_incident(
        &self,
        incident_id: i64,
        closed_by: &str,
        summary: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "close an incident",
            sqlx::query(
                "UPDATE incidents SET state = 'closed', closed_at_ms = ?, closed_by = ?, summary = ? WHERE id = ? AND state = 'open'",
            )
            .bind(now_ms())
            .bind(closed_by)
            .bind(summary)
            .bind(incident_id),
        )
        .await
        .map(drop)
    }

    /// One incident by id.
    pub async fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        self.fetch_one_of(
            "read an incident",
            sqlx::query(&format!("SELECT {COLUMNS} FROM incidents WHERE id = ?")).bind(id),
            incident_from,
        )
        .await
    }

    /// The newest `limit` incidents, newest first.
    pub async fn incidents(&self, limit: i64) -> Result<Vec<Incident>, StoreError> {
        self.fetch_all_of(
            "list incidents",
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM incidents ORDER BY id DESC LIMIT ?"
            ))
            .bind(limit),
            incident_from,
        )
        .await
    }
}
