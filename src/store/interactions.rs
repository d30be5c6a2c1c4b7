//! The `interactions` table: Discord interaction ids already handled.

use super::{Store, StoreError, now_ms, query_err};

impl Store {
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
            Err(e) => Err(query_err("claim an interaction")(e)),
        }
    }
}
