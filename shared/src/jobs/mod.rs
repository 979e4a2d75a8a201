//! Jobs: the envelope every queue carries, the job kinds this platform runs,
//! and the registry that maps a kind's wire name to its handler.
//!
//! A job kind is a type implementing [`Job`]: a stable wire name
//! ([`Job::KIND`] — queued jobs carry it, so it is never renamed once
//! shipped), a payload (the type itself, as JSON) and a handler. Each kind
//! lives in its own file below and is listed once, in [`Registry::standard`].
//!
//! Every queue is at-least-once: a worker killed after a job's effect and
//! before its ack runs the job again. So handlers are idempotent — a second
//! run of the same job must not repeat its effect (store the effect under the
//! job's idempotency key, or make the effect a set-to-value, not an
//! increment).
//!
//! The same envelope travels over every [`JobQueue`](crate::ports::JobQueue)
//! adapter, so job code never knows its transport.

mod analyze;
mod deliver_history;
mod expire_task_results;
mod knowledge;
mod purge_expired_sessions;
mod purge_finished_jobs;

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use analyze::{AnalyzeFeasibility, AnalyzeImprovements, GenerateConfig};
pub use deliver_history::DeliverHistory;
pub use expire_task_results::ExpireTaskResults;
pub use knowledge::{IndexDocument, ReindexKnowledge, SyncKnowledge};
pub use purge_expired_sessions::PurgeExpiredSessions;
pub use purge_finished_jobs::PurgeFinishedJobs;

pub use crate::domain::job::{
    Delivery, Enqueued, JobCounts, JobEnvelope, NewJob, OldestWaiting, Priority, Receipt, Retried,
    MAX_IDEMPOTENCY_KEY_CHARS, MAX_KIND_CHARS,
};
use crate::error::{Error, Result};
use crate::state::AppState;

/// A job of kind `J` with `job` as its payload and the kind's priority
/// (the type is in `domain::job`; building one from a [`Job`] belongs here).
impl NewJob {
    /// A job of kind `J` with `job` as its payload and the kind's priority.
    pub fn of<J: Job>(job: &J) -> Result<Self> {
        let payload = serde_json::to_value(job)
            .map_err(|e| Error::internal(format!("job {} payload: {e}", J::KIND)))?;
        Ok(Self::raw(J::KIND, payload).priority(J::PRIORITY))
    }
}

/// Why a run failed, and whether running it again may help.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Transient (a backend down, a conflict): retried with backoff until the
    /// attempts are spent.
    #[error("{0}")]
    Retryable(String),
    /// Will fail the same way every time (a payload that does not decode, a
    /// resource that is gone): dead-lettered at once.
    #[error("{0}")]
    Permanent(String),
}

impl From<Error> for JobError {
    /// Client-side errors of the platform mean the job itself is wrong;
    /// server-side ones may pass.
    fn from(e: Error) -> Self {
        match e {
            Error::BadRequest(_)
            | Error::Validation(_)
            | Error::NotFound { .. }
            | Error::Forbidden { .. }
            | Error::Unauthorized(_)
            | Error::PayloadTooLarge { .. } => Self::Permanent(e.to_string()),
            Error::Internal(cause) => Self::Retryable(format!("{cause:#}")),
            other => Self::Retryable(other.to_string()),
        }
    }
}

/// What a handler gets besides its payload.
pub struct JobContext<'a> {
    pub state: &'a AppState,
    pub job: &'a JobEnvelope,
}

/// A job kind: wire name, payload (the type itself) and idempotent handler.
#[async_trait]
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stable wire name. Never rename a kind that has shipped.
    const KIND: &'static str;
    const PRIORITY: Priority = Priority::DEFAULT;

    /// Performs the job's effect. Must be idempotent: see the module docs.
    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError>;
}

/// A handler with its payload type erased, as the registry stores it.
#[async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, ctx: &JobContext<'_>) -> Result<(), JobError>;
}

struct Typed<J>(PhantomData<fn() -> J>);

#[async_trait]
impl<J: Job> Handler for Typed<J> {
    async fn handle(&self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let job: J = serde_json::from_value(ctx.job.payload.clone()).map_err(|e| {
            JobError::Permanent(format!("payload of {} does not decode: {e}", J::KIND))
        })?;
        job.run(ctx).await
    }
}

/// The job kinds a worker can run, by wire name.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
}

impl Registry {
    /// No kinds at all (tests build their own).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every kind this platform ships: the one place a new kind is listed.
    pub fn standard() -> Self {
        Self::empty()
            .with::<PurgeExpiredSessions>()
            .with::<DeliverHistory>()
            .with::<PurgeFinishedJobs>()
            .with::<IndexDocument>()
            .with::<SyncKnowledge>()
            .with::<ReindexKnowledge>()
            .with::<ExpireTaskResults>()
            .with::<AnalyzeFeasibility>()
            .with::<AnalyzeImprovements>()
            .with::<GenerateConfig>()
    }

    /// Adds kind `J`.
    ///
    /// # Panics
    /// When another type already registered `J::KIND`: two kinds sharing a
    /// wire name is a programming error that must not reach a queue.
    pub fn with<J: Job>(mut self) -> Self {
        let previous = self
            .handlers
            .insert(J::KIND, Arc::new(Typed::<J>(PhantomData)));
        assert!(
            previous.is_none(),
            "job kind {:?} is registered twice",
            J::KIND
        );
        self
    }

    pub fn handler(&self, kind: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(kind).cloned()
    }

    /// The registered wire names, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.handlers.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_registry_lists_the_shipped_kinds() {
        assert_eq!(
            Registry::standard().kinds(),
            [
                "analyze_feasibility",
                "analyze_improvements",
                "deliver_history",
                "expire_task_results",
                "generate_config",
                "index_document",
                "purge_expired_sessions",
                "purge_finished_jobs",
                "reindex_knowledge",
                "sync_knowledge"
            ]
        );
    }
}
