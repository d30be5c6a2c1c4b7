-- Watch mode's announced state, shared by every replica: a new leader after a
-- failover reads it, so it neither re-announces nor misses a change. `fence`
-- is the lease fence of the leader that wrote it; an older leader cannot
-- overwrite a newer one's state.
CREATE TABLE IF NOT EXISTS watch_state (
    cluster TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    fence BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
