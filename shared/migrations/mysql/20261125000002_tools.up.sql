-- The tool registry and its version history (mirrors migrations/sqlite).
CREATE TABLE IF NOT EXISTS mcp_tools (
    id          CHAR(36)     NOT NULL PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    -- Unique over deleted rows too: a deleted tool keeps its slug reserved.
    slug        VARCHAR(100) NOT NULL,
    description TEXT,
    version     VARCHAR(64)  NOT NULL,
    config      MEDIUMTEXT   NOT NULL,
    status      VARCHAR(16)  NOT NULL,
    tags        TEXT         NOT NULL,
    -- Name and description lowercased by the application (Unicode-aware,
    -- unlike SQLite's LOWER), for the case-insensitive `q` filter.
    search_text TEXT         NOT NULL,
    author_id   CHAR(36)     NOT NULL,
    revision    BIGINT       NOT NULL,
    created_at  VARCHAR(32)  NOT NULL,
    updated_at  VARCHAR(32)  NOT NULL,
    deleted_at  VARCHAR(32),
    UNIQUE KEY ux_mcp_tools_slug (slug),
    KEY ix_mcp_tools_author (author_id),
    KEY ix_mcp_tools_status (status),
    KEY ix_mcp_tools_created (created_at, id),
    CONSTRAINT fk_mcp_tools_author FOREIGN KEY (author_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per tag, for the `tag` filter; `mcp_tools.tags` keeps the list for reads.
CREATE TABLE IF NOT EXISTS mcp_tool_tags (
    tool_id CHAR(36)    NOT NULL,
    tag     VARCHAR(64) NOT NULL,
    PRIMARY KEY (tool_id, tag),
    KEY ix_mcp_tool_tags_tag (tag),
    CONSTRAINT fk_mcp_tool_tags_tool FOREIGN KEY (tool_id) REFERENCES mcp_tools (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS mcp_config_history (
    id          CHAR(36)    NOT NULL PRIMARY KEY,
    tool_id     CHAR(36)    NOT NULL,
    sequence    BIGINT      NOT NULL,
    version     VARCHAR(64) NOT NULL,
    change_type VARCHAR(16) NOT NULL,
    changed_by  CHAR(36)    NOT NULL,
    changed_at  VARCHAR(32) NOT NULL,
    snapshot    MEDIUMTEXT  NOT NULL,
    diff        MEDIUMTEXT  NOT NULL,
    UNIQUE KEY ux_history_tool_sequence (tool_id, sequence),
    CONSTRAINT fk_history_tool FOREIGN KEY (tool_id) REFERENCES mcp_tools (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
