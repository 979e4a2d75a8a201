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
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use analyze::{AnalyzeFeasibility, AnalyzeImprovements, GenerateConfig};
pub use deliver_history::DeliverHistory;
pub use expire_task_results::ExpireTaskResults;
pub use knowledge::{IndexDocument, ReindexKnowledge, SyncKnowledge};
pub use purge_expired_sessions::PurgeExpiredSessions;
pub use purge_finished_jobs::PurgeFinishedJobs;

use crate::error::{Error, Result};
use crate::state::AppState;

/// The longest idempotency key a queue accepts. Adapters whose transport
/// allows less (SQS deduplication ids: 128 characters) store a hash of it.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// The longest job kind name.
pub const MAX_KIND_CHARS: usize = 100;

/// Queue priority, 0 (lowest) to 9 (highest): higher runs first. The range
/// is RabbitMQ's usual `x-max-priority` and SPEC's execution priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Priority(u8);

impl Priority {
    pub const LOWEST: Self = Self(0);
    /// What a job gets unless it asks otherwise; maintenance jobs ask for less.
    pub const DEFAULT: Self = Self(5);
    pub const HIGHEST: Self = Self(9);

    pub fn new(value: u8) -> std::result::Result<Self, String> {
        if value <= 9 {
            Ok(Self(value))
        } else {
            Err(format!("priority must be 0 to 9, got {value}"))
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<u8> for Priority {
    type Error = String;
    fn try_from(value: u8) -> std::result::Result<Self, String> {
        Self::new(value)
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.0
    }
}

/// One delivery of a job, as a worker sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEnvelope {
    pub id: Uuid,
    /// The wire name of the job kind ([`Job::KIND`]).
    pub kind: String,
    pub payload: serde_json::Value,
    /// Deliveries so far, this one included: 1 on the first run.
    pub attempt: u32,
    /// Enqueuing the same key again yields this job, not a second one.
    pub idempotency_key: String,
    pub priority: Priority,
    pub enqueued_at: DateTime<Utc>,
}

/// A job to enqueue. Build it from a [`Job`] with [`NewJob::of`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// `None`: the job's own id, so nothing else dedupes with it.
    pub idempotency_key: Option<String>,
    pub priority: Priority,
    /// Not before this time; `None` is now.
    pub run_at: Option<DateTime<Utc>>,
}

impl NewJob {
    /// A job of kind `J` with `job` as its payload and the kind's priority.
    pub fn of<J: Job>(job: &J) -> Result<Self> {
        let payload = serde_json::to_value(job)
            .map_err(|e| Error::internal(format!("job {} payload: {e}", J::KIND)))?;
        Ok(Self::raw(J::KIND, payload).priority(J::PRIORITY))
    }

    /// A job by wire name, for adapters and tests that move envelopes around.
    pub fn raw(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            idempotency_key: None,
            priority: Priority::DEFAULT,
            run_at: None,
        }
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    /// What every adapter checks before it stores a job.
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
        let kind_chars = self.kind.chars().count();
        if kind_chars == 0 || kind_chars > MAX_KIND_CHARS {
            errors.push(crate::error::FieldError::new(
                &["job", "kind"],
                "value_error",
                format!("1 to {MAX_KIND_CHARS} characters"),
            ));
        }
        if let Some(key) = &self.idempotency_key {
            let chars = key.chars().count();
            if chars == 0 || chars > MAX_IDEMPOTENCY_KEY_CHARS {
                errors.push(crate::error::FieldError::new(
                    &["job", "idempotency_key"],
                    "value_error",
                    format!("1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// What enqueuing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The job that holds the idempotency key: the new one, or the one that
    /// already had it.
    pub id: Uuid,
    /// `false` when a job with the same idempotency key already existed.
    pub created: bool,
}

/// Proof of a lease, handed back to settle a delivery (ack, retry,
/// dead-letter). Each adapter puts in `token` what it needs to find the
/// delivery again — the SQL queue its lease token, SQS the receipt handle,
/// RabbitMQ the delivery tag — so a worker whose lease ran out and was taken
/// over cannot settle the newer delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub job_id: Uuid,
    /// The delivery this receipt is for (see [`JobEnvelope::attempt`]).
    pub attempt: u32,
    pub token: String,
}

/// A claimed job and the receipt that settles it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub job: JobEnvelope,
    pub receipt: Receipt,
}

/// How a handed-back delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    /// Queued again; claimable from `at`.
    Scheduled { at: DateTime<Utc> },
    /// That was the last allowed attempt: the job is dead-lettered.
    DeadLettered,
    /// The lease had been lost (expired and taken over, or already settled).
    LeaseLost,
}

/// Jobs by state, for tests, `/metrics` and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting to run (including those waiting out a backoff).
    pub queued: u64,
    /// Leased to a worker (including leases that expired and wait to be reclaimed).
    pub running: u64,
    pub done: u64,
    /// Dead-lettered: attempts spent, or a permanent failure.
    pub dead: u64,
}

impl JobCounts {
    /// Jobs not finished yet.
    pub fn pending(&self) -> u64 {
        self.queued + self.running
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
    fn priority_accepts_zero_to_nine_only() {
        for p in 0..=9u8 {
            assert_eq!(Priority::new(p).map(Priority::get), Ok(p));
        }
        assert!(Priority::new(10).is_err());
        assert!(serde_json::from_str::<Priority>("10").is_err());
        assert_eq!(
            serde_json::to_string(&Priority::HIGHEST).ok().as_deref(),
            Some("9")
        );
    }

    #[test]
    fn new_jobs_with_empty_or_long_keys_are_refused() {
        assert!(NewJob::raw("k", serde_json::json!({})).validate().is_ok());
        assert!(NewJob::raw("", serde_json::json!({})).validate().is_err());
        let long = "x".repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1);
        assert!(NewJob::raw("k", serde_json::json!({}))
            .idempotency_key(long)
            .validate()
            .is_err());
        assert!(NewJob::raw("k", serde_json::json!({}))
            .idempotency_key("")
            .validate()
            .is_err());
    }

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
