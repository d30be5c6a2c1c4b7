-- A large outage (hundreds of failing nodes) must fit: the watch state, an
-- incident's culprits and summaries have no small cap. Chat cuts what it shows.
ALTER TABLE watch_state MODIFY state MEDIUMTEXT NOT NULL;
ALTER TABLE incidents MODIFY culprits MEDIUMTEXT NOT NULL, MODIFY summary MEDIUMTEXT NOT NULL;
ALTER TABLE runs MODIFY culprits MEDIUMTEXT NULL, MODIFY summary MEDIUMTEXT NULL;

-- Watch mode's outbox: an announcement is recorded here (pending) before it is
-- delivered and marked delivered in the same transaction as its incident
-- write, so a successor delivers a dead leader's pending ones once. `target`
-- is the watch state the change leads to, `report` the run it announces.
CREATE TABLE IF NOT EXISTS outbox (
    id BIGINT PRIMARY KEY AUTO_INCREMENT,
    cluster VARCHAR(255) NOT NULL,
    change_kind VARCHAR(32) NOT NULL,
    report MEDIUMTEXT NOT NULL,
    target MEDIUMTEXT NOT NULL,
    fence BIGINT NOT NULL,
    state VARCHAR(16) NOT NULL,
    created_at_ms BIGINT NOT NULL,
    delivered_at_ms BIGINT NULL,
    INDEX outbox_by_state (cluster, state, id)
);
