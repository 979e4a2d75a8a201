-- Idempotency keys of jobs sent to a broker (RabbitMQ, SQS), which cannot
-- dedupe by themselves: adapters/sql/job_keys.rs explains the protocol.
CREATE TABLE job_keys (
    -- SHA-256 of the idempotency key, as jobs.key_hash.
    key_hash     CHAR(64)    NOT NULL PRIMARY KEY,
    job_id       CHAR(36)    NOT NULL,
    -- When the key was taken (or an orphan adopted).
    created_at   VARCHAR(32) NOT NULL,
    -- Set once the broker confirmed the message; NULL while publishing.
    published_at VARCHAR(32)
);
-- Purging reads keys by age.
CREATE INDEX ix_job_keys_created ON job_keys (created_at);
