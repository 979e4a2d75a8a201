-- The knowledge base (mirrors migrations/sqlite; adapters/sql/knowledge.rs):
-- documents and their chunks, and the embedded vector index.
CREATE TABLE IF NOT EXISTS knowledge_documents (
    id              CHAR(36)     NOT NULL,
    -- documents | tools (the tool catalog, id = tool id)
    collection      VARCHAR(32)  NOT NULL,
    title           VARCHAR(500) NOT NULL,
    content         LONGTEXT     NOT NULL,
    source          VARCHAR(255),
    -- JSON list of lowercase tags.
    tags            TEXT         NOT NULL,
    language        VARCHAR(32),
    tool_id         CHAR(36),
    owner_id        CHAR(36),
    public          BIGINT       NOT NULL DEFAULT 0,
    -- pending | indexed | deleting
    status          VARCHAR(16)  NOT NULL,
    embedding_model VARCHAR(255),
    created_at      VARCHAR(32)  NOT NULL,
    updated_at      VARCHAR(32)  NOT NULL,
    PRIMARY KEY (collection, id),
    KEY ix_knowledge_documents_list (collection, created_at),
    KEY ix_knowledge_documents_status (status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS knowledge_chunks (
    collection  VARCHAR(32) NOT NULL,
    document_id CHAR(36)    NOT NULL,
    chunk_index BIGINT      NOT NULL,
    content     MEDIUMTEXT  NOT NULL,
    PRIMARY KEY (collection, document_id, chunk_index)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
-- A revision per collection, bumped by every document write: replicas
-- compare it to know their in-memory lexical index is behind.
CREATE TABLE IF NOT EXISTS knowledge_stamps (
    collection VARCHAR(32) NOT NULL PRIMARY KEY,
    revision   BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO knowledge_stamps (collection, revision) VALUES ('documents', 0), ('tools', 0);
CREATE TABLE IF NOT EXISTS vector_collections (
    name      VARCHAR(255) NOT NULL PRIMARY KEY,
    dimension BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS vector_points (
    collection  VARCHAR(255) NOT NULL,
    id          CHAR(36)     NOT NULL,
    document_id CHAR(36)     NOT NULL,
    payload     MEDIUMTEXT   NOT NULL,
    -- Little-endian f32s, dimension × 4 bytes.
    vector      MEDIUMBLOB   NOT NULL,
    PRIMARY KEY (collection, id),
    KEY ix_vector_points_document (collection, document_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
