-- Watch mode's announced state, shared by every replica: a new leader after a
-- failover reads it, so it neither re-announces nor misses a change. `fence`
-- is the lease fence of the leader that wrote it; an older leader cannot
-- overwrite a newer one's state.
CREATE TABLE IF NOT EXISTS watch_state (
    cluster VARCHAR(255) PRIMARY KEY,
    state VARCHAR(4000) NOT NULL,
    fence BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
