//! Knowledge-base jobs (see `crate::knowledge` for the consistency rules):
//! - `index_document`: embeds one document now (large documents, and inline
//!   attempts that failed);
//! - `sync_knowledge`: the periodic sweep — pending documents indexed,
//!   interrupted deletes finished, documents of another model re-embedded;
//! - `reindex_knowledge`: the same sweep, queued at start when the
//!   configured embedder differs from the one stored vectors were made with.
//!
//! All idempotent: indexing replaces a document's points, deleting twice
//! deletes once.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Job, JobContext, JobError, Priority};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDocument {
    pub collection: String,
    pub document_id: Uuid,
}

#[async_trait]
impl Job for IndexDocument {
    const KIND: &'static str = "index_document";

    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        ctx.state
            .knowledge
            .index_one(&self.collection, self.document_id)
            .await?;
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncKnowledge {}

#[async_trait]
impl Job for SyncKnowledge {
    const KIND: &'static str = "sync_knowledge";
    const PRIORITY: Priority = Priority::LOWEST;

    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let report = ctx.state.knowledge.sweep().await?;
        tracing::info!(?report, "knowledge base swept");
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReindexKnowledge {}

#[async_trait]
impl Job for ReindexKnowledge {
    const KIND: &'static str = "reindex_knowledge";

    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let report = ctx.state.knowledge.sweep().await?;
        tracing::info!(?report, model = %ctx.state.knowledge.model_key(), "knowledge base reindexed");
        Ok(())
    }
}
