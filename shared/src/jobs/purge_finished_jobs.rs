//! `purge_finished_jobs`: deletes done and dead-lettered jobs that finished
//! longer ago than `JOB_RETENTION_HOURS`, so the queue table stays small.
//! The retention must outlast the longest scheduler period: a job's
//! idempotency key is free again once its row is gone.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Job, JobContext, JobError, Priority};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeFinishedJobs {}

#[async_trait]
impl Job for PurgeFinishedJobs {
    const KIND: &'static str = "purge_finished_jobs";
    const PRIORITY: Priority = Priority::LOWEST;

    /// Idempotent: a second run finds nothing older than the cut-off.
    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let retention = chrono::Duration::from_std(ctx.state.settings.jobs.retention)
            .map_err(|e| JobError::Permanent(format!("JOB_RETENTION_HOURS: {e}")))?;
        let purged = ctx
            .state
            .jobs
            .purge_finished(crate::domain::now() - retention)
            .await?;
        tracing::info!(purged, "finished jobs purged");
        Ok(())
    }
}
