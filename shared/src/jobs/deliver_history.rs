//! `deliver_history`: relays version-history records from the SQL outbox to
//! the history store (MongoDB) when one is configured. Every tool change
//! already tries to deliver; this periodic run catches what a crash or an
//! outage of the history store left behind. Without MongoDB it does nothing.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Job, JobContext, JobError, Priority};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverHistory {}

#[async_trait]
impl Job for DeliverHistory {
    const KIND: &'static str = "deliver_history";
    const PRIORITY: Priority = Priority::LOWEST;

    /// Idempotent: the history store ignores a record it already holds, and
    /// the outbox row goes only after the record is stored.
    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let delivered = crate::registry::deliver_history(ctx.state).await?;
        if delivered > 0 {
            tracing::info!(delivered, "history records delivered from the outbox");
        }
        Ok(())
    }
}
