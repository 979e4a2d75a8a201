-- Task records (mirrors migrations/sqlite; adapters/sql/tasks.rs), used
-- when MongoDB is not configured.
CREATE TABLE IF NOT EXISTS tasks (
    id           CHAR(36)     NOT NULL PRIMARY KEY,
    task_type    VARCHAR(100) NOT NULL,
    owner_id     CHAR(36)     NOT NULL,
    -- pending | running | completed | failed | cancelled
    status       VARCHAR(16)  NOT NULL,
    -- 0..100. BIGINT: sqlx's Any driver decodes it on both dialects.
    progress     BIGINT       NOT NULL DEFAULT 0,
    message      TEXT,
    -- JSON
    result       MEDIUMTEXT,
    error        TEXT,
    created_at   VARCHAR(32)  NOT NULL,
    started_at   VARCHAR(32),
    completed_at VARCHAR(32),
    -- Pushed back by every change; the expiry job deletes rows past it.
    expires_at   VARCHAR(32)  NOT NULL,
    KEY ix_tasks_owner (owner_id, created_at),
    KEY ix_tasks_created (created_at),
    KEY ix_tasks_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
