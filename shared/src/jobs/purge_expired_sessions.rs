//! `purge_expired_sessions`: deletes refresh tokens past their expiry from
//! the session store. An expired token is refused whether or not its row
//! exists (reuse detection only matters while a family could still be
//! used), so the rows are dead weight. Sessions kept in Redis expire by TTL;
//! there the table is empty and this is a cheap no-op.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Job, JobContext, JobError, Priority};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeExpiredSessions {}

#[async_trait]
impl Job for PurgeExpiredSessions {
    const KIND: &'static str = "purge_expired_sessions";
    const PRIORITY: Priority = Priority::LOWEST;

    /// Idempotent: a second run finds nothing left to delete.
    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let purged = ctx
            .state
            .sessions
            .purge_expired(crate::domain::now())
            .await?;
        tracing::info!(purged, "expired refresh tokens purged");
        Ok(())
    }
}
