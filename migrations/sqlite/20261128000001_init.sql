-- aisbf-doctor store, SQLite dialect. Times are Unix milliseconds.
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT,
    requested_by TEXT NOT NULL,
    probes TEXT NOT NULL,
    status TEXT NOT NULL,
    layer TEXT,
    action TEXT,
    culprits TEXT,
    summary TEXT,
    elapsed_ms BIGINT
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, started_at_ms);

CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT NOT NULL REFERENCES runs (id),
    probe TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_by_run ON findings (run_id);

CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster TEXT NOT NULL,
    state TEXT NOT NULL,
    layer TEXT NOT NULL,
    culprits TEXT NOT NULL,
    summary TEXT NOT NULL,
    thread_id TEXT,
    opened_at_ms BIGINT NOT NULL,
    opened_by TEXT NOT NULL,
    closed_at_ms BIGINT,
    closed_by TEXT
);
CREATE INDEX IF NOT EXISTS incidents_by_state ON incidents (cluster, state);

CREATE TABLE IF NOT EXISTS follow_ups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT REFERENCES incidents (id),
    cluster TEXT NOT NULL,
    subject TEXT NOT NULL,
    code TEXT NOT NULL,
    note TEXT NOT NULL,
    opened_at_ms BIGINT NOT NULL,
    repaired_at_ms BIGINT,
    last_reminded_at_ms BIGINT
);
CREATE INDEX IF NOT EXISTS follow_ups_open ON follow_ups (cluster, repaired_at_ms);

CREATE TABLE IF NOT EXISTS interactions (
    id TEXT PRIMARY KEY,
    seen_at_ms BIGINT NOT NULL
);
