//! The narrow traits the application talks to. Each has an embedded adapter
//! that honours the whole contract (SQLite, in-process) and, later, adapters
//! for real servers; `state.rs` picks one per port from configuration.
//!
//! Contracts every adapter keeps:
//! - Errors are already translated (`Conflict`, `NotFound`, `Unavailable`);
//!   no driver error type crosses a port.
//! - Writes that must be atomic are one call: a tool change and its history
//!   record are stored together by [`ToolRepo`], never one without the other.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{ApiKey, HistoryRecord, Role, Tool, ToolStatus, User};
use crate::error::Result;

/// A cheap liveness probe of a backend (a query, a PING), for `/health`.
#[async_trait]
pub trait Ping: Send + Sync {
    async fn ping(&self) -> Result<()>;
}

/// Filters and paging of `GET /mcps`. `page` starts at 1.
#[derive(Debug, Clone, Default)]
pub struct ToolFilter {
    pub status: Option<ToolStatus>,
    pub author_id: Option<Uuid>,
    pub tag: Option<String>,
    /// Case-insensitive substring of name or description.
    pub q: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub page_size: u32,
}

impl PageRequest {
    pub fn offset(self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.page_size)
    }
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

#[async_trait]
pub trait ToolRepo: Send + Sync {
    /// Stores a new tool and its `create` record. `Conflict` when the slug is
    /// taken, also by a deleted tool.
    async fn insert(&self, tool: &Tool, record: &HistoryRecord) -> Result<()>;
    /// Replaces the stored tool if its revision is still `expected_revision`,
    /// and appends `record` in the same transaction. `Conflict` otherwise.
    async fn update(
        &self,
        tool: &Tool,
        expected_revision: i64,
        record: &HistoryRecord,
    ) -> Result<()>;
    /// A live (not deleted) tool.
    async fn find(&self, id: Uuid) -> Result<Option<Tool>>;
    async fn find_by_slug(&self, slug: &str) -> Result<Option<Tool>>;
    /// Live tools, newest first, ties broken by id so pages are stable.
    async fn list(&self, filter: &ToolFilter, page: PageRequest) -> Result<Page<Tool>>;
}

/// The most history records one listing returns (newest first).
pub const HISTORY_LIMIT: i64 = 1000;

/// Where version history is read from. [`ToolRepo`] writes each record in
/// the SQL transaction of its change; when history lives elsewhere (MongoDB),
/// that SQL row is an outbox entry that `registry` delivers with `append`.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Stores records; a record already stored (same id) is left as it is,
    /// so delivering twice stores once.
    async fn append(&self, records: &[HistoryRecord]) -> Result<()>;
    /// The newest [`HISTORY_LIMIT`] records of a tool, newest first.
    async fn list(&self, tool_id: Uuid) -> Result<Vec<HistoryRecord>>;
    /// The newest record of a tool at `version` that is not a deletion,
    /// however old: what a restore brings back.
    async fn find_version(&self, tool_id: Uuid, version: &str) -> Result<Option<HistoryRecord>>;
}

#[async_trait]
pub trait UserRepo: Send + Sync {
    /// `Conflict` naming `username` or `email` when either is taken.
    async fn create(&self, user: &User) -> Result<()>;
    async fn find(&self, id: Uuid) -> Result<Option<User>>;
    async fn find_by_username(&self, username: &str) -> Result<Option<User>>;
    async fn list(&self, page: PageRequest) -> Result<Page<User>>;
    async fn set_role_and_status(&self, id: Uuid, role: Role, is_active: bool) -> Result<()>;

    async fn create_api_key(&self, key: &ApiKey) -> Result<()>;
    /// Keys of one user, newest first, revoked ones included.
    async fn list_api_keys(&self, user_id: Uuid) -> Result<Vec<ApiKey>>;
    async fn find_api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    /// Records that a key was used at `at`.
    async fn touch_api_key(&self, key_id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// Revokes one of the user's keys; `false` when there is no such live key.
    async fn revoke_api_key(&self, user_id: Uuid, key_id: Uuid, at: DateTime<Utc>) -> Result<bool>;
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// First use of a live token: it is now spent.
    Fresh { user_id: Uuid, family_id: Uuid },
    /// The token was already spent or its family revoked: a replay.
    Reused { family_id: Uuid },
    /// Never issued, or expired.
    Unknown,
}

/// Refresh-token families (rotation with reuse detection). Tokens are stored
/// by their hash only.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn issue(
        &self,
        token_hash: &str,
        family_id: Uuid,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Atomically marks the token spent and says what it was.
    async fn consume(&self, token_hash: &str) -> Result<RefreshUse>;
    async fn revoke_family(&self, family_id: Uuid) -> Result<()>;
}

/// A byte cache. Never the source of truth: callers fall back to the
/// repository on any error.
#[async_trait]
pub trait Cache: Ping {
    async fn get(&self, key: &str) -> Result<Option<bytes::Bytes>>;
    async fn set(&self, key: &str, value: bytes::Bytes, ttl: Duration) -> Result<()>;
    async fn delete(&self, key: &str) -> Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed { remaining: u32 },
    Limited { retry_after: Duration },
}

/// Fixed-window counters: at most `limit` hits per `window` per key.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision>;
}

/// A durable job queue, at-least-once: a job is delivered until a delivery
/// is acked, so every handler is idempotent (see `crate::jobs`). The same
/// contract fits the SQL table queue, RabbitMQ and SQS: a claim is a lease
/// (visibility timeout), a [`Receipt`](crate::jobs::Receipt) settles it.
#[async_trait]
pub trait JobQueue: Ping {
    /// Stores a job. A job that already holds the same idempotency key is
    /// not duplicated: its id comes back with `created: false`.
    async fn enqueue(&self, job: crate::jobs::NewJob) -> Result<crate::jobs::Enqueued>;
    /// Leases up to `max` available jobs for `lease`, highest priority first,
    /// then oldest. A lease that runs out unsettled makes its job claimable
    /// again (counted as an attempt); a job whose last allowed attempt ran
    /// out so is dead-lettered instead.
    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<crate::jobs::Delivery>>;
    /// Marks the job done — call it only after the job's effect is stored.
    /// `false` when the lease was lost: the job may run again elsewhere.
    async fn ack(&self, receipt: &crate::jobs::Receipt) -> Result<bool>;
    /// Hands a failed delivery back to run again after `delay`, or
    /// dead-letters it when that was its last allowed attempt.
    async fn retry(
        &self,
        receipt: &crate::jobs::Receipt,
        delay: Duration,
        error: &str,
    ) -> Result<crate::jobs::Retried>;
    /// Dead-letters the job now (a permanent failure). `false` when the
    /// lease was lost.
    async fn dead_letter(&self, receipt: &crate::jobs::Receipt, error: &str) -> Result<bool>;
    async fn counts(&self) -> Result<crate::jobs::JobCounts>;
    /// Deletes done and dead jobs that finished before `before`; how many.
    /// Adapters that keep no finished jobs (a broker) return 0.
    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64>;
}
