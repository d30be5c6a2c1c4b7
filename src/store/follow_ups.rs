//! The `follow_ups` table: infrastructure drift that was worked around and
//! still has to be repaired, reminded about until a run shows it fixed.

use serde::Serialize;
use sqlx::any::AnyRow;

use std::collections::{HashMap, HashSet};

use super::{Store, StoreError, clip, column, now_ms, parse_enum, query_err};
use crate::engine::Report;
use crate::finding::{Code, Severity};
use crate::verdict::Action;

/// A follow-up as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub cluster: String,
    pub subject: String,
    pub code: Code,
    pub note: String,
    pub opened_at_ms: i64,
    pub repaired_at_ms: Option<i64>,
    pub last_reminded_at_ms: Option<i64>,
}

const COLUMNS: &str = "id, incident_id, cluster, subject, code, note, opened_at_ms, repaired_at_ms, last_reminded_at_ms";
const WHAT: &str = "read a follow-up";

fn follow_up_from(r: &AnyRow) -> Result<FollowUp, StoreError> {
    Ok(FollowUp {
        id: column(r, WHAT, "id")?,
        incident_id: column(r, WHAT, "incident_id")?,
        cluster: column(r, WHAT, "cluster")?,
        subject: column(r, WHAT, "subject")?,
        code: parse_enum("follow_ups.code", column(r, WHAT, "code")?)?,
        note: column(r, WHAT, "note")?,
        opened_at_ms: column(r, WHAT, "opened_at_ms")?,
        repaired_at_ms: column(r, WHAT, "repaired_at_ms")?,
        last_reminded_at_ms: column(r, WHAT, "last_reminded_at_ms")?,
    })
}

impl Store {
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
        // One read of what is open and one transaction for what is new: a
        // large outage opens hundreds at once.
        let open: HashSet<(String, Code)> = self
            .open_follow_ups_of(Some(cluster))
            .await?
            .into_iter()
            .map(|fu| (fu.subject, fu.code))
            .collect();
        let culprits: HashSet<&str> = report.verdict.culprits.iter().map(String::as_str).collect();
        let mut seen = HashSet::new();
        let new: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == report.status && culprits.contains(f.subject.as_str()))
            .filter(|f| !open.contains(&(f.subject.clone(), f.code)))
            .filter(|f| seen.insert((f.subject.clone(), f.code)))
            .collect();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        const WHAT: &str = "open a follow-up";
        let mut tx = self.pool.begin().await.map_err(query_err(WHAT))?;
        let mut ids = Vec::with_capacity(new.len());
        for f in new {
            let id = self
                .insert_on(
                    &mut tx,
                    WHAT,
                    sqlx::query(
                        "INSERT INTO follow_ups (incident_id, cluster, subject, code, note, opened_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    )
                    .bind(incident_id)
                    .bind(clip(cluster))
                    .bind(clip(&f.subject))
                    .bind(f.code.as_str())
                    .bind(clip(&f.message))
                    .bind(now_ms()),
                )
                .await?;
            ids.push(id);
        }
        tx.commit().await.map_err(query_err(WHAT))?;
        let mut opened = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(fu) = self.follow_up(id).await? {
                opened.push(fu);
            }
        }
        Ok(opened)
    }

    /// One follow-up by id.
    pub async fn follow_up(&self, id: i64) -> Result<Option<FollowUp>, StoreError> {
        self.fetch_one_of(
            "read a follow-up",
            sqlx::query(&format!("SELECT {COLUMNS} FROM follow_ups WHERE id = ?")).bind(id),
            follow_up_from,
        )
        .await
    }

    /// Follow-ups not yet repaired (all clusters when `cluster` is None),
    /// oldest first; every one (a large outage opens hundreds, and watch mode
    /// tracks and reminds each; listings cut what they show).
    pub async fn open_follow_ups_of(
        &self,
        cluster: Option<&str>,
    ) -> Result<Vec<FollowUp>, StoreError> {
        const WHAT: &str = "list open follow-ups";
        match cluster {
            Some(c) => self.fetch_all_of(
                WHAT,
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM follow_ups WHERE cluster = ? AND repaired_at_ms IS NULL ORDER BY id"
                ))
                .bind(c),
                follow_up_from,
            )
            .await,
            None => self.fetch_all_of(
                WHAT,
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM follow_ups WHERE repaired_at_ms IS NULL ORDER BY id"
                )),
                follow_up_from,
            )
            .await,
        }
    }

    /// The follow-ups opened during one incident, oldest first.
    pub async fn follow_ups_of_incident(
        &self,
        incident_id: i64,
    ) -> Result<Vec<FollowUp>, StoreError> {
        self.fetch_all_of(
            "list an incident's follow-ups",
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM follow_ups WHERE incident_id = ? ORDER BY id"
            ))
            .bind(incident_id),
            follow_up_from,
        )
        .await
    }

    /// Marks repaired every open follow-up that `report` shows fixed: its
    /// probe ran, and its subject no longer has a failing or warning finding
    /// with that code. Returns the repaired ones.
    pub async fn repair_follow_ups(
        &self,
        cluster: &str,
        report: &Report,
    ) -> Result<Vec<FollowUp>, StoreError> {
        let mut by_subject: HashMap<&str, Vec<&crate::finding::Finding>> = HashMap::new();
        for f in &report.findings {
            by_subject.entry(f.subject.as_str()).or_default().push(f);
        }
        let mut repaired = Vec::new();
        for fu in self.open_follow_ups_of(Some(cluster)).await? {
            let Some(seen) = by_subject.get(fu.subject.as_str()) else {
                continue;
            };
            let still_broken = seen
                .iter()
                .any(|f| f.code == fu.code && f.severity > Severity::Ok);
            if !still_broken {
                self.execute(
                    "mark a follow-up repaired",
                    sqlx::query("UPDATE follow_ups SET repaired_at_ms = ? WHERE id = ?")
                        .bind(now_ms())
                        .bind(fu.id),
                )
                .await?;
                repaired.push(fu);
            }
        }
        Ok(repaired)
    }

    /// Records when a follow-up was last reminded about.
    pub async fn mark_reminded(&self, follow_up_id: i64, at_ms: i64) -> Result<(), StoreError> {
        self.execute(
            "mark a follow-up reminded",
            sqlx::query("UPDATE follow_ups SET last_reminded_at_ms = ? WHERE id = ?")
                .bind(at_ms)
                .bind(follow_up_id),
        )
        .await
        .map(drop)
    }
}
