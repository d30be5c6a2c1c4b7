-- Watch mode's outbox: an announcement is recorded here (pending) before it is
-- delivered and marked delivered in the same transaction as its incident
-- write, so a successor delivers a dead leader's pending ones once. `target`
-- is the watch state the change leads to, `report` the run it announces.
-- (SQLite's TEXT has no cap: the large-outage widening of MySQL is not needed.)
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster TEXT NOT NULL,
    change_kind TEXT NOT NULL,
    report TEXT NOT NULL,
    target TEXT NOT NULL,
    fence BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    delivered_at_ms BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_by_state ON outbox (cluster, state, id);
