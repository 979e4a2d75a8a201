//! The queue's vocabulary: the envelope every [`JobQueue`](crate::ports::JobQueue)
//! adapter carries, what enqueuing and claiming hand back, and job counts.
//! Job kinds and their handlers live in `jobs/`, above the ports; these types
//! live here so the queue adapters need nothing from that layer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, FieldError, Result};

/// The longest idempotency key a queue accepts. Adapters whose transport
/// allows less (SQS deduplication ids: 128 characters) store a hash of it.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// The longest job kind name.
pub const MAX_KIND_CHARS: usize = 100;

/// A job's failure message is stored cut to this many bytes (it also
/// travels as an AMQP header, which must stay small).
pub const MAX_ERROR_BYTES: usize = 4000;

/// `error` cut to [`MAX_ERROR_BYTES`] on a character boundary: what every
/// queue adapter stores as a job's last error.
pub fn stored_error(error: &str) -> &str {
    if error.len() <= MAX_ERROR_BYTES {
        return error;
    }
    let mut end = MAX_ERROR_BYTES;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

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
            errors.push(FieldError::new(
                &["job", "kind"],
                "value_error",
                format!("1 to {MAX_KIND_CHARS} characters"),
            ));
        }
        if let Some(key) = &self.idempotency_key {
            let chars = key.chars().count();
            if chars == 0 || chars > MAX_IDEMPOTENCY_KEY_CHARS {
                errors.push(FieldError::new(
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
    /// How long the longest-waiting job has waited for a worker.
    pub oldest_waiting: OldestWaiting,
}

/// The job that has been free to run longest without a worker taking it
/// (a lease that ran out counts from its end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OldestWaiting {
    /// No job is free to run and unclaimed.
    Nothing,
    /// The longest-waiting job has been free to run since then.
    Since(DateTime<Utc>),
    /// The transport does not say: RabbitMQ and SQS report no message's
    /// age over their APIs (SQS has CloudWatch's
    /// `ApproximateAgeOfOldestMessage`).
    #[default]
    Unknown,
}

impl OldestWaiting {
    /// How long that job has waited by `now`: zero when none waits, `None`
    /// when unknown.
    pub fn age(self, now: DateTime<Utc>) -> Option<std::time::Duration> {
        match self {
            Self::Nothing => Some(std::time::Duration::ZERO),
            Self::Since(at) => Some((now - at).to_std().unwrap_or_default()),
            Self::Unknown => None,
        }
    }
}

impl JobCounts {
    /// Jobs not finished yet.
    pub fn pending(&self) -> u64 {
        self.queued + self.running
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
    fn long_errors_are_cut_on_a_character_boundary() {
        let long = "é".repeat(3000);
        let cut = stored_error(&long);
        assert!(cut.len() <= MAX_ERROR_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(stored_error("short"), "short");
    }
}
