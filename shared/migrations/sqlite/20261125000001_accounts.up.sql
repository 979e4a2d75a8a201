-- Users, API keys and refresh-token families.
CREATE TABLE users (
    id            CHAR(36)     NOT NULL PRIMARY KEY,
    username      VARCHAR(50)  NOT NULL COLLATE NOCASE,
    email         VARCHAR(254) NOT NULL COLLATE NOCASE,
    password_hash VARCHAR(255) NOT NULL,
    role          VARCHAR(16)  NOT NULL,
    -- 0 or 1; an integer rather than BOOLEAN so both dialects decode it alike.
    is_active     INTEGER      NOT NULL DEFAULT 1,
    created_at    VARCHAR(32)  NOT NULL,
    updated_at    VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX ux_users_username ON users (username);
CREATE UNIQUE INDEX ux_users_email ON users (email);
CREATE INDEX ix_users_created ON users (created_at, id);

CREATE TABLE api_keys (
    id           CHAR(36)     NOT NULL PRIMARY KEY,
    user_id      CHAR(36)     NOT NULL REFERENCES users (id),
    name         VARCHAR(100) NOT NULL,
    prefix       VARCHAR(24)  NOT NULL,
    key_hash     CHAR(64)     NOT NULL,
    created_at   VARCHAR(32)  NOT NULL,
    expires_at   VARCHAR(32),
    last_used_at VARCHAR(32),
    revoked_at   VARCHAR(32)
);
CREATE UNIQUE INDEX ux_api_keys_hash ON api_keys (key_hash);
CREATE INDEX ix_api_keys_user ON api_keys (user_id, created_at);

CREATE TABLE refresh_tokens (
    token_hash CHAR(64)    NOT NULL PRIMARY KEY,
    family_id  CHAR(36)    NOT NULL,
    user_id    CHAR(36)    NOT NULL REFERENCES users (id),
    expires_at VARCHAR(32) NOT NULL,
    used_at    VARCHAR(32),
    revoked_at VARCHAR(32)
);
CREATE INDEX ix_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX ix_refresh_tokens_expires ON refresh_tokens (expires_at);
