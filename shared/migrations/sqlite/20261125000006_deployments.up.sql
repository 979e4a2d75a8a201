-- Deployments of tools (the gateway's desired state) and the gateway's usage rows.
CREATE TABLE mcp_deployments (
    id                CHAR(36)     NOT NULL PRIMARY KEY,
    tool_id           CHAR(36)     NOT NULL REFERENCES mcp_tools (id),
    tool_slug         VARCHAR(100) NOT NULL,
    tool_version      VARCHAR(64)  NOT NULL,
    owner_id          CHAR(36)     NOT NULL REFERENCES users (id),
    -- starting | running | failed | stopped
    status            VARCHAR(16)  NOT NULL,
    -- unknown | healthy | unhealthy
    health_status     VARCHAR(16)  NOT NULL,
    last_health_check VARCHAR(32),
    public            INTEGER      NOT NULL,
    config            TEXT         NOT NULL,
    endpoint_url      VARCHAR(512) NOT NULL,
    last_error        TEXT,
    -- The tool id while the deployment is not stopped, NULL after: the unique
    -- index makes "one active deployment per tool" hold under races.
    active_tool_id    CHAR(36),
    deployed_at       VARCHAR(32)  NOT NULL,
    stopped_at        VARCHAR(32),
    updated_at        VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX ux_mcp_deployments_active_tool ON mcp_deployments (active_tool_id);
CREATE INDEX ix_mcp_deployments_status ON mcp_deployments (status, deployed_at);
CREATE INDEX ix_mcp_deployments_owner ON mcp_deployments (owner_id);

CREATE TABLE mcp_usage_stats (
    id            CHAR(36)     NOT NULL PRIMARY KEY,
    tool_id       CHAR(36)     NOT NULL,
    deployment_id CHAR(36)     NOT NULL,
    -- NULL for anonymous calls to a public deployment.
    user_id       CHAR(36),
    method        VARCHAR(128) NOT NULL,
    -- ok | error
    status        VARCHAR(16)  NOT NULL,
    latency_us    BIGINT       NOT NULL,
    created_at    VARCHAR(32)  NOT NULL
);
CREATE INDEX ix_mcp_usage_deployment ON mcp_usage_stats (deployment_id, created_at);
CREATE INDEX ix_mcp_usage_tool ON mcp_usage_stats (tool_id, created_at);
