-- The durable job queue (mirrors migrations/sqlite; adapters/sql/queue.rs
-- explains the states).
CREATE TABLE IF NOT EXISTS jobs (
    id              CHAR(36)     NOT NULL PRIMARY KEY,
    kind            VARCHAR(100) NOT NULL,
    payload         MEDIUMTEXT   NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    -- SHA-256 of idempotency_key: the dedupe key, fixed width and compared
    -- as hex digits, so this collation's case and trailing-space rules
    -- cannot merge keys that SQLite keeps apart.
    key_hash        CHAR(64)     NOT NULL,
    -- 0..9, higher first. BIGINT: sqlx's Any driver decodes it on both dialects.
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
    last_error      TEXT,
    UNIQUE KEY ux_jobs_key_hash (key_hash),
    KEY ix_jobs_claim (status, priority, available_at),
    KEY ix_jobs_finished (finished_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
