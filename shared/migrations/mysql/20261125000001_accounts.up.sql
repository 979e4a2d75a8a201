-- Users, API keys and refresh-token families (mirrors migrations/sqlite).
-- Case-insensitive collation, as SQLite's NOCASE columns: a _bin collation
-- would flag text columns BINARY, which decode as bytes, not strings.
-- MySQL commits DDL implicitly, so every statement is IF NOT EXISTS: a
-- migration that failed half-way completes when it is run again.
CREATE TABLE IF NOT EXISTS users (
    id            CHAR(36)     NOT NULL PRIMARY KEY,
    username      VARCHAR(50)  NOT NULL,
    email         VARCHAR(254) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role          VARCHAR(16)  NOT NULL,
    -- 0 or 1; BIGINT because sqlx's Any driver cannot decode TINYINT(1).
    is_active     BIGINT       NOT NULL DEFAULT 1,
    created_at    VARCHAR(32)  NOT NULL,
    updated_at    VARCHAR(32)  NOT NULL,
    UNIQUE KEY ux_users_username (username),
    UNIQUE KEY ux_users_email (email),
    KEY ix_users_created (created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS api_keys (
    id           CHAR(36)     NOT NULL PRIMARY KEY,
    user_id      CHAR(36)     NOT NULL,
    name         VARCHAR(100) NOT NULL,
    prefix       VARCHAR(24)  NOT NULL,
    key_hash     CHAR(64)     NOT NULL,
    created_at   VARCHAR(32)  NOT NULL,
    expires_at   VARCHAR(32),
    last_used_at VARCHAR(32),
    revoked_at   VARCHAR(32),
    UNIQUE KEY ux_api_keys_hash (key_hash),
    KEY ix_api_keys_user (user_id, created_at),
    CONSTRAINT fk_api_keys_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash CHAR(64)    NOT NULL PRIMARY KEY,
    family_id  CHAR(36)    NOT NULL,
    user_id    CHAR(36)    NOT NULL,
    expires_at VARCHAR(32) NOT NULL,
    used_at    VARCHAR(32),
    revoked_at VARCHAR(32),
    KEY ix_refresh_tokens_family (family_id),
    KEY ix_refresh_tokens_expires (expires_at),
    CONSTRAINT fk_refresh_tokens_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
