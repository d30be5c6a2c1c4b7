//! The `watch_state` table: watch mode's shared state (see `watch_runner`),
//! one row per cluster, fenced so a deposed leader cannot overwrite it.

use super::{MAX_STATE, Store, StoreError, clip, column, now_ms, query_err, text};
use crate::watch::WatchState;

impl Store {
    /// The watch state last written for `cluster`, if any.
    pub async fn watch_state(&self, cluster: &str) -> Result<Option<WatchState>, StoreError> {
        const WHAT: &str = "read the watch state";
        let text = self
            .fetch_one_of(
                WHAT,
                sqlx::query("SELECT state FROM watch_state WHERE cluster = ?").bind(cluster),
                |row| text(row, WHAT, "state"),
            )
            .await?;
        let Some(text) = text else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| StoreError::UnreadableWatchState {
                cluster: cluster.to_string(),
                source,
            })
    }

    /// The lease fence that last wrote the watch state of `cluster`, if any: a
    /// new lease is taken above it, so a lost fence counter (Redis restarted
    /// without persistence) cannot leave the leader unable to write.
    pub async fn watch_state_fence(&self, cluster: &str) -> Result<Option<i64>, StoreError> {
        const WHAT: &str = "read the watch state fence";
        self.fetch_one_of(
            WHAT,
            sqlx::query("SELECT fence FROM watch_state WHERE cluster = ?").bind(cluster),
            |row| column::<i64>(row, WHAT, "fence"),
        )
        .await
    }

    /// Writes the watch state of `cluster` unless a leader with a newer lease
    /// fence already wrote it; returns whether it was written.
    pub async fn save_watch_state(
        &self,
        cluster: &str,
        state: &WatchState,
        fence: i64,
    ) -> Result<bool, StoreError> {
        const WHAT: &str = "save the watch state";
        let text = serde_json::to_string(state)
            .map_err(|source| StoreError::EncodeWatchState { source })?;
        if text.len() >= MAX_STATE {
            return Err(StoreError::WatchStateTooLarge);
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
            Err(e) => return Err(query_err(WHAT)(e)),
        }
        let updated = self
            .execute(
                WHAT,
                sqlx::query(
                    "UPDATE watch_state SET state = ?, fence = ?, updated_at_ms = ? WHERE cluster = ? AND fence <= ?",
                )
                .bind(&text)
                .bind(fence)
                .bind(now_ms())
                .bind(cluster)
                .bind(fence),
            )
            .await?;
        Ok(updated > 0)
    }
}
