-- Deployments of tools and the gateway's usage rows (mirrors migrations/sqlite).
CREATE TABLE IF NOT EXISTS mcp_deployments (
    id                CHAR(36)     NOT NULL PRIMARY KEY,
    tool_id           CHAR(36)     NOT NULL,
    tool_slug         VARCHAR(100) NOT NULL,
    tool_version      VARCHAR(64)  NOT NULL,
    owner_id          CHAR(36)     NOT NULL,
    status            VARCHAR(16)  NOT NULL,
    health_status     VARCHAR(16)  NOT NULL,
    last_health_check VARCHAR(32),
    public            INTEGER      NOT NULL,
    config            MEDIUMTEXT   NOT NULL,
    endpoint_url      VARCHAR(512) NOT NULL,
    last_error        TEXT,
    -- The tool id while the deployment is not stopped, NULL after: the unique
    -- key makes "one active deployment per tool" hold under races.
    active_tool_id    CHAR(36),
    deployed_at       VARCHAR(32)  NOT NULL,
    stopped_at        VARCHAR(32),
    updated_at        VARCHAR(32)  NOT NULL,
    UNIQUE KEY ux_mcp_deployments_active_tool (active_tool_id),
    KEY ix_mcp_deployments_status (status, deployed_at),
    KEY ix_mcp_deployments_owner (owner_id),
    CONSTRAINT fk_mcp_deployments_tool FOREIGN KEY (tool_id) REFERENCES mcp_tools (id),
    CONSTRAINT fk_mcp_deployments_owner FOREIGN KEY (owner_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS mcp_usage_stats (
    id            CHAR(36)     NOT NULL PRIMARY KEY,
    tool_id       CHAR(36)     NOT NULL,
    deployment_id CHAR(36)     NOT NULL,
    user_id       CHAR(36),
    method        VARCHAR(128) NOT NULL,
    status        VARCHAR(16)  NOT NULL,
    latency_us    BIGINT       NOT NULL,
    created_at    VARCHAR(32)  NOT NULL,
    KEY ix_mcp_usage_deployment (deployment_id, created_at),
    KEY ix_mcp_usage_tool (tool_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
