-- The tool registry and its version history.
CREATE TABLE mcp_tools (
    id          CHAR(36)     NOT NULL PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    -- Unique over deleted rows too: a deleted tool keeps its slug reserved.
    slug        VARCHAR(100) NOT NULL,
    description TEXT,
    version     VARCHAR(64)  NOT NULL,
    config      TEXT         NOT NULL,
    status      VARCHAR(16)  NOT NULL,
    tags        TEXT         NOT NULL,
    -- Name and description lowercased by the application (Unicode-aware,
    -- unlike SQLite's LOWER), for the case-insensitive `q` filter.
    search_text TEXT         NOT NULL,
    author_id   CHAR(36)     NOT NULL REFERENCES users (id),
    revision    BIGINT       NOT NULL,
    created_at  VARCHAR(32)  NOT NULL,
    updated_at  VARCHAR(32)  NOT NULL,
    deleted_at  VARCHAR(32)
);
CREATE UNIQUE INDEX ux_mcp_tools_slug ON mcp_tools (slug);
CREATE INDEX ix_mcp_tools_author ON mcp_tools (author_id);
CREATE INDEX ix_mcp_tools_status ON mcp_tools (status);
CREATE INDEX ix_mcp_tools_created ON mcp_tools (created_at, id);

-- One row per tag, for the `tag` filter; `mcp_tools.tags` keeps the list for reads.
CREATE TABLE mcp_tool_tags (
    tool_id CHAR(36)    NOT NULL REFERENCES mcp_tools (id),
    tag     VARCHAR(64) NOT NULL,
    PRIMARY KEY (tool_id, tag)
);
CREATE INDEX ix_mcp_tool_tags_tag ON mcp_tool_tags (tag);

CREATE TABLE mcp_config_history (
    id          CHAR(36)    NOT NULL PRIMARY KEY,
    tool_id     CHAR(36)    NOT NULL REFERENCES mcp_tools (id),
    sequence    BIGINT      NOT NULL,
    version     VARCHAR(64) NOT NULL,
    change_type VARCHAR(16) NOT NULL,
    changed_by  CHAR(36)    NOT NULL,
    changed_at  VARCHAR(32) NOT NULL,
    snapshot    TEXT        NOT NULL,
    diff        TEXT        NOT NULL
);
CREATE UNIQUE INDEX ux_history_tool_sequence ON mcp_config_history (tool_id, sequence);
