-- aisbf-doctor store, MySQL/MariaDB dialect. Times are Unix milliseconds.
CREATE TABLE IF NOT EXISTS runs (
    id BIGINT PRIMARY KEY AUTO_INCREMENT,
    cluster VARCHAR(255) NOT NULL,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT NULL,
    requested_by VARCHAR(255) NOT NULL,
    probes VARCHAR(255) NOT NULL,
    status VARCHAR(32) NOT NULL,
    layer VARCHAR(32) NULL,
    action VARCHAR(32) NULL,
    culprits VARCHAR(4000) NULL,
    summary VARCHAR(4000) NULL,
    elapsed_ms BIGINT NULL,
    INDEX runs_by_status (status, started_at_ms)
);

CREATE TABLE IF NOT EXISTS findings (
    id BIGINT PRIMARY KEY AUTO_INCREMENT,
    run_id BIGINT NOT NULL,
    probe VARCHAR(32) NOT NULL,
    severity VARCHAR(16) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    code VARCHAR(64) NOT NULL,
    message VARCHAR(4000) NOT NULL,
    INDEX findings_by_run (run_id)
);

CREATE TABLE IF NOT EXISTS incidents (
    id BIGINT PRIMARY KEY AUTO_INCREMENT,
    cluster VARCHAR(255) NOT NULL,
    state VARCHAR(16) NOT NULL,
    layer VARCHAR(32) NOT NULL,
    culprits VARCHAR(4000) NOT NULL,
    summary VARCHAR(4000) NOT NULL,
    thread_id VARCHAR(32) NULL,
    opened_at_ms BIGINT NOT NULL,
    opened_by VARCHAR(255) NOT NULL,
    closed_at_ms BIGINT NULL,
    closed_by VARCHAR(255) NULL,
    INDEX incidents_by_state (cluster, state)
);

CREATE TABLE IF NOT EXISTS follow_ups (
    id BIGINT PRIMARY KEY AUTO_INCREMENT,
    incident_id BIGINT NULL,
    cluster VARCHAR(255) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    code VARCHAR(64) NOT NULL,
    note VARCHAR(4000) NOT NULL,
    opened_at_ms BIGINT NOT NULL,
    repaired_at_ms BIGINT NULL,
    last_reminded_at_ms BIGINT NULL,
    INDEX follow_ups_open (cluster, repaired_at_ms)
);

CREATE TABLE IF NOT EXISTS interactions (
    id VARCHAR(64) PRIMARY KEY,
    seen_at_ms BIGINT NOT NULL
);
