-- The knowledge base (adapters/sql/knowledge.rs): documents and their chunks,
-- and the embedded vector index (adapters/embedded/flat_index.rs).
CREATE TABLE knowledge_documents (
    id              CHAR(36)     NOT NULL,
    -- documents | tools (the tool catalog, id = tool id)
    collection      VARCHAR(32)  NOT NULL,
    title           VARCHAR(500) NOT NULL,
    content         TEXT         NOT NULL,
    source          VARCHAR(255),
    -- JSON list of lowercase tags.
    tags            TEXT         NOT NULL,
    language        VARCHAR(32),
    tool_id         CHAR(36),
    owner_id        CHAR(36),
    public          BIGINT       NOT NULL DEFAULT 0,
    -- pending | indexed | deleting
    status          VARCHAR(16)  NOT NULL,
    -- The embedder whose vectors of this document are in the index.
    embedding_model VARCHAR(255),
    created_at      VARCHAR(32)  NOT NULL,
    updated_at      VARCHAR(32)  NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE INDEX ix_knowledge_documents_list ON knowledge_documents (collection, created_at);
CREATE INDEX ix_knowledge_documents_status ON knowledge_documents (status);
CREATE TABLE knowledge_chunks (
    collection  VARCHAR(32) NOT NULL,
    document_id CHAR(36)    NOT NULL,
    chunk_index BIGINT      NOT NULL,
    content     TEXT        NOT NULL,
    PRIMARY KEY (collection, document_id, chunk_index)
);
-- A revision per collection, bumped by every document write: replicas
-- compare it to know their in-memory lexical index is behind.
CREATE TABLE knowledge_stamps (
    collection VARCHAR(32) NOT NULL PRIMARY KEY,
    revision   BIGINT      NOT NULL
);
INSERT INTO knowledge_stamps (collection, revision) VALUES ('documents', 0), ('tools', 0);
CREATE TABLE vector_collections (
    name      VARCHAR(255) NOT NULL PRIMARY KEY,
    dimension BIGINT       NOT NULL
);
CREATE TABLE vector_points (
    collection  VARCHAR(255) NOT NULL,
    id          CHAR(36)     NOT NULL,
    document_id CHAR(36)     NOT NULL,
    -- JSON of the point's ChunkPayload.
    payload     TEXT         NOT NULL,
    -- Little-endian f32s, dimension × 4 bytes.
    vector      BLOB         NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE INDEX ix_vector_points_document ON vector_points (collection, document_id);
