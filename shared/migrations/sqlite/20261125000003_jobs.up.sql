-- The durable job queue (adapters/sql/queue.rs explains the states).
CREATE TABLE jobs (
    id              CHAR(36)     NOT NULL PRIMARY KEY,
    kind            VARCHAR(100) NOT NULL,
    payload         TEXT         NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    -- SHA-256 of idempotency_key: the dedupe key, fixed width and free of
    -- collation rules, so both dialects compare keys byte for byte.
    key_hash        CHAR(64)     NOT NULL,
    -- 0..9, higher first.
    priority        BIGINT       NOT NULL,
    -- queued | running | done | dead
    status          VARCHAR(16)  NOT NULL,
    -- Deliveries so far.
    attempts        BIGINT       NOT NULL DEFAULT 0,
    -- queued: when it may run; running: when its lease ends.
    available_at    VARCHAR(32)  NOT NULL,
    -- The current lease; settling a delivery must present it.
    lease_token     CHAR(36),
    enqueued_at     VARCHAR(32)  NOT NULL,
    finished_at     VARCHAR(32),
    last_error      TEXT
);
CREATE UNIQUE INDEX ux_jobs_key_hash ON jobs (key_hash);
-- Claiming reads unfinished jobs by priority, then by when they became available.
CREATE INDEX ix_jobs_claim ON jobs (status, priority, available_at);
-- Purging reads finished jobs by age.
CREATE INDEX ix_jobs_finished ON jobs (finished_at);
