-- Task records (adapters/sql/tasks.rs), used when MongoDB is not configured.
CREATE TABLE tasks (
    id           CHAR(36)     NOT NULL PRIMARY KEY,
    task_type    VARCHAR(100) NOT NULL,
    owner_id     CHAR(36)     NOT NULL,
    -- pending | running | completed | failed | cancelled
    status       VARCHAR(16)  NOT NULL,
    -- 0..100
    progress     BIGINT       NOT NULL DEFAULT 0,
    message      TEXT,
    -- JSON
    result       TEXT,
    error        TEXT,
    created_at   VARCHAR(32)  NOT NULL,
    started_at   VARCHAR(32),
    completed_at VARCHAR(32),
    -- Pushed back by every change; the expiry job deletes rows past it.
    expires_at   VARCHAR(32)  NOT NULL
);
-- Listing reads one owner's tasks newest first.
CREATE INDEX ix_tasks_owner ON tasks (owner_id, created_at);
CREATE INDEX ix_tasks_created ON tasks (created_at);
CREATE INDEX ix_tasks_expires ON tasks (expires_at);
