//! `expire_task_results`: deletes task records past their expiry
//! (`TASK_RESULT_TTL_HOURS` after their last change). Reads already hide
//! them; this keeps the table small. MongoDB's TTL index does the same on
//! its own, so there the job finds little or nothing.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Job, JobContext, JobError, Priority};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireTaskResults {}

#[async_trait]
impl Job for ExpireTaskResults {
    const KIND: &'static str = "expire_task_results";
    const PRIORITY: Priority = Priority::LOWEST;

    /// Idempotent: a second run finds nothing expired.
    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let purged = ctx.state.tasks.purge_expired(crate::domain::now()).await?;
        tracing::info!(purged, "expired task results deleted");
        Ok(())
    }
}
