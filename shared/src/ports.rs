//! The narrow traits the application talks to. Each has an embedded adapter
//! that honours the whole contract (SQLite, in-process) and, later, adapters
//! for real servers; `state.rs` picks one per port from configuration.
//!
//! Contracts every adapter keeps:
//! - Errors are already translated (`Conflict`, `NotFound`, `Unavailable`);
//!   no driver error type crosses a port.
//! - Writes that must be atomic are one call: a tool change and its history
//!   record are stored together by [`ToolRepo`], never one without the other.

mod llm;
pub use llm::{FindingsBaseline, LlmProvider, ToolUnderReview};

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    ApiKey, Deployment, DeploymentStatus, HealthStatus, HistoryRecord, Role, Task, TaskStatus,
    Tool, ToolStatus, UsageRow, UsageTotals, User,
};
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

/// The relational store's history rows seen as an outbox, when history
/// lives in another store: [`ToolRepo`] writes each record next to its
/// change, and a job delivers them (`registry::deliver_history`).
#[async_trait]
pub trait HistoryOutbox: Send + Sync {
    /// Records waiting to be delivered, oldest first.
    async fn pending_history(&self, limit: i64) -> Result<Vec<HistoryRecord>>;
    /// Drops records once they are stored elsewhere.
    async fn forget_history(&self, records: &[HistoryRecord]) -> Result<()>;
}

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

/// The user and family a refresh token was issued to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOwner {
    pub user_id: Uuid,
    pub family_id: Uuid,
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
    /// Whose token this is and its family, without spending it: `None` for
    /// a token never issued or expired.
    async fn owner(&self, token_hash: &str) -> Result<Option<TokenOwner>>;
    /// Deletes tokens that expired at or before `now`; how many went. An
    /// expired token is refused with or without its record, so this changes
    /// no answer of [`Self::consume`]; stores that expire keys by themselves
    /// (Redis TTLs) have nothing to do.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64>;
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
/// (visibility timeout), a [`Receipt`](crate::domain::job::Receipt) settles it.
#[async_trait]
pub trait JobQueue: Ping {
    /// Stores a job. A job that already holds the same idempotency key is
    /// not duplicated: its id comes back with `created: false`.
    async fn enqueue(
        &self,
        job: crate::domain::job::NewJob,
    ) -> Result<crate::domain::job::Enqueued>;
    /// Leases up to `max` available jobs for `lease`, highest priority first,
    /// then oldest. A lease that runs out unsettled makes its job claimable
    /// again (counted as an attempt); a job whose last allowed attempt ran
    /// out so is dead-lettered instead.
    async fn claim(&self, max: usize, lease: Duration)
        -> Result<Vec<crate::domain::job::Delivery>>;
    /// Marks the job done — call it only after the job's effect is stored.
    /// `false` when the lease was lost: the job may run again elsewhere.
    async fn ack(&self, receipt: &crate::domain::job::Receipt) -> Result<bool>;
    /// Hands a failed delivery back to run again after `delay`, or
    /// dead-letters it when that was its last allowed attempt.
    async fn retry(
        &self,
        receipt: &crate::domain::job::Receipt,
        delay: Duration,
        error: &str,
    ) -> Result<crate::domain::job::Retried>;
    /// Dead-letters the job now (a permanent failure). `false` when the
    /// lease was lost.
    async fn dead_letter(&self, receipt: &crate::domain::job::Receipt, error: &str)
        -> Result<bool>;
    async fn counts(&self) -> Result<crate::domain::job::JobCounts>;
    /// Deletes done and dead jobs that finished before `before`; how many.
    /// Adapters that keep no finished jobs (a broker) return 0.
    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// Turns text into vectors. A collection records the model id and the
/// dimension it was built with; a vector of another dimension is refused and
/// a model change means a reindex (see the knowledge base).
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Names the model and its settings, e.g. `offline-ngram-v1` or
    /// `openai:text-embedding-3-small`; stored with each collection.
    fn model_id(&self) -> &str;
    /// Length of every vector this embedder returns.
    fn dimension(&self) -> usize;
    /// One L2-normalised vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// What a vector index stores with each point (one point per document
/// chunk) and can filter on before ranking.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChunkPayload {
    pub document_id: Uuid,
    /// Position of the chunk in its document, from 0.
    pub chunk_index: u32,
    pub title: String,
    pub source: Option<String>,
    pub tags: Vec<String>,
    pub tool_id: Option<Uuid>,
    /// Who may see the chunk: its owner (and admins) unless `public`.
    pub owner_id: Option<Uuid>,
    pub public: bool,
    pub created_at: DateTime<Utc>,
}

/// One point of a collection: a chunk's vector and payload. `id` is stable
/// for the chunk (e.g. a UUID derived from document id and chunk index), so
/// upserting a document again replaces its points.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorPoint {
    pub id: Uuid,
    pub vector: Vec<f32>,
    pub payload: ChunkPayload,
}

/// Filters applied before ranking. Empty fields do not filter. `visible_to`
/// keeps public points and those owned by that user; `None` sees everything
/// (admins, internal jobs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorFilter {
    /// A point matches when it has any of these tags.
    pub tags: Vec<String>,
    pub source: Option<String>,
    pub tool_id: Option<Uuid>,
    pub visible_to: Option<Uuid>,
}

impl VectorFilter {
    /// Whether `payload` passes this filter (the flat index and the lexical
    /// index both ask here, so both rankings see the same points).
    pub fn matches(&self, payload: &ChunkPayload) -> bool {
        if !self.tags.is_empty() && !self.tags.iter().any(|t| payload.tags.contains(t)) {
            return false;
        }
        if let Some(source) = &self.source {
            if payload.source.as_ref() != Some(source) {
                return false;
            }
        }
        if let Some(tool_id) = self.tool_id {
            if payload.tool_id != Some(tool_id) {
                return false;
            }
        }
        if let Some(viewer) = self.visible_to {
            if !payload.public && payload.owner_id != Some(viewer) {
                return false;
            }
        }
        true
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPoint {
    pub id: Uuid,
    /// Cosine similarity, higher is closer.
    pub score: f32,
    pub payload: ChunkPayload,
}

/// Collections of vectors with payload filters: the embedded exact index and
/// Qdrant. Every point of a collection has the collection's dimension.
#[async_trait]
pub trait VectorIndex: Ping {
    /// Creates the collection when missing. An existing collection with
    /// another dimension is a `Conflict` (reindex into a new collection).
    async fn ensure_collection(&self, collection: &str, dimension: usize) -> Result<()>;
    /// Inserts or replaces points by id. A vector of the wrong dimension is
    /// refused (`Validation`) and nothing of the batch is stored.
    async fn upsert(&self, collection: &str, points: Vec<VectorPoint>) -> Result<()>;
    /// Removes every point of the document.
    async fn delete_document(&self, collection: &str, document_id: Uuid) -> Result<()>;
    /// The `limit` closest points that pass `filter`, by descending score.
    async fn search(
        &self,
        collection: &str,
        vector: &[f32],
        filter: &VectorFilter,
        limit: usize,
    ) -> Result<Vec<ScoredPoint>>;
    /// Drops the collection and its points (after a reindex moved on).
    async fn drop_collection(&self, collection: &str) -> Result<()>;
}

/// A real-time event for WebSocket and SSE subscribers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Who may receive it: a subscriber must be this user or an admin.
    /// `None` is a broadcast every authenticated subscriber may receive.
    pub owner_id: Option<Uuid>,
    /// What subscribers subscribe to: `task:{id}` or `deployment:{id}`
    /// (the realtime API parses requests into nothing else).
    pub topic: String,
    /// The message as sent to clients, with its `type` field
    /// (`task_update`, `deployment_status`, …).
    pub message: serde_json::Value,
}

/// Fans events out to every replica's subscribers: in-process in the
/// embedded shape, Redis pub/sub when Redis is configured.
#[async_trait]
pub trait EventBus: Ping {
    /// Best effort: an event nobody listens to is dropped.
    async fn publish(&self, event: Event) -> Result<()>;
    /// Every event published from now on, on any replica. A receiver that
    /// falls behind loses the oldest events (bounded buffer), never blocks
    /// publishers.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event>;
}

/// Where a knowledge-base document stands with the vector index.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    /// Stored, its vectors not (all) in the index yet: a job retries it.
    Pending,
    /// Stored, and every chunk is in the index under `embedding_model`.
    Indexed,
    /// Being removed: hidden from every read, the sweep finishes the delete.
    Deleting,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Indexed => "indexed",
            Self::Deleting => "deleting",
        }
    }

    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "pending" => Ok(Self::Pending),
            "indexed" => Ok(Self::Indexed),
            "deleting" => Ok(Self::Deleting),
            _ => Err("must be one of: pending, indexed, deleting".into()),
        }
    }
}

/// A knowledge-base document as stored, with its chunks. `collection` keeps
/// users' documents (`documents`) apart from the tool catalog (`tools`, one
/// document per tool, id = tool id).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDocument {
    pub id: Uuid,
    pub collection: String,
    pub title: String,
    pub content: String,
    pub source: Option<String>,
    pub tags: Vec<String>,
    pub language: Option<String>,
    pub tool_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub public: bool,
    pub status: DocumentStatus,
    /// The embedder whose vectors of this document are in the index.
    pub embedding_model: Option<String>,
    pub chunks: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Filters of a document listing. Empty fields do not filter; documents
/// being deleted are never listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentFilter {
    pub tag: Option<String>,
    pub source: Option<String>,
    pub tool_id: Option<Uuid>,
    /// Public documents and this user's; `None` lists all.
    pub visible_to: Option<Uuid>,
    pub status: Option<DocumentStatus>,
}

/// The document side of the knowledge base: SQL (embedded, MySQL) or the
/// MongoDB `knowledge_base` collection.
#[async_trait]
pub trait DocumentStore: Ping {
    /// Inserts or replaces the document and its chunks, atomically.
    async fn put(&self, document: &StoredDocument) -> Result<()>;
    /// With its chunks; documents being deleted included (callers decide).
    async fn get(&self, collection: &str, id: Uuid) -> Result<Option<StoredDocument>>;
    /// Newest first, ties by id; without their content and chunks.
    async fn list(
        &self,
        collection: &str,
        filter: &DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<StoredDocument>>;
    /// Sets the status (and the model when given) if the document exists and
    /// is not being deleted; `false` otherwise.
    async fn set_status(
        &self,
        collection: &str,
        id: Uuid,
        status: DocumentStatus,
        embedding_model: Option<&str>,
    ) -> Result<bool>;
    /// Removes the document and its chunks; `false` when it was not there.
    async fn delete(&self, collection: &str, id: Uuid) -> Result<bool>;
    /// Up to `limit` documents of any collection, with chunks, by id after
    /// `after`: every document once, for rebuilds and sweeps.
    async fn scan(&self, after: Option<Uuid>, limit: usize) -> Result<Vec<StoredDocument>>;
    /// Changes whenever a document of the collection is stored or removed,
    /// so other replicas' in-memory lexical indexes know to reload.
    async fn stamp(&self, collection: &str) -> Result<String>;
}

/// Filters of `GET /tasks`. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// `None` lists every owner's tasks (admins).
    pub owner_id: Option<Uuid>,
    pub status: Option<TaskStatus>,
    pub task_type: Option<String>,
}

/// Task records: MongoDB `task_results` (TTL index) when configured, else
/// the relational store (expired rows swept by a periodic job). Records past
/// their `expires_at` are never returned, swept yet or not.
#[async_trait]
pub trait TaskStore: Ping {
    async fn create(&self, task: &Task) -> Result<()>;
    async fn find(&self, id: Uuid) -> Result<Option<Task>>;
    /// Newest first, ties broken by id.
    async fn list(&self, filter: &TaskFilter, page: PageRequest) -> Result<Page<Task>>;
    /// Replaces the stored task with `task` if the stored one's status is one
    /// of `from` (compare-and-set: a cancel and a start racing for a pending
    /// task cannot both win). `false` when it was not.
    async fn update(&self, task: &Task, from: &[TaskStatus]) -> Result<bool>;
    /// Removes a task (a start whose job could not be enqueued).
    async fn delete(&self, id: Uuid) -> Result<()>;
    /// Deletes records that expired at or before `now`; how many.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64>;
}

/// Filters of `GET /deployments`. Empty fields do not filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeploymentFilter {
    pub status: Option<DeploymentStatus>,
    /// `None` lists every owner's deployments (admins).
    pub owner_id: Option<Uuid>,
}

/// Deployments (the gateway's desired state, shared by every replica) and
/// the usage rows of gateway calls. At most one deployment per tool is not
/// stopped; a stop always wins over a runner's late status report.
#[async_trait]
pub trait DeploymentStore: Send + Sync {
    /// Stores a new deployment. `Conflict` when its tool already has one
    /// that is not stopped.
    async fn insert_deployment(&self, deployment: &Deployment) -> Result<()>;
    async fn find_deployment(&self, id: Uuid) -> Result<Option<Deployment>>;
    /// The deployment of this slug that is not stopped, if any.
    async fn find_active_deployment_by_slug(&self, slug: &str) -> Result<Option<Deployment>>;
    /// The newest deployment of this slug, whatever its status.
    async fn latest_deployment_by_slug(&self, slug: &str) -> Result<Option<Deployment>>;
    /// Newest first (ties broken by id).
    async fn list_deployments(
        &self,
        filter: DeploymentFilter,
        page: PageRequest,
    ) -> Result<Page<Deployment>>;
    /// Every deployment that should be running (not stopped).
    async fn active_deployments(&self) -> Result<Vec<Deployment>>;
    /// Sets the status (and error) of a deployment that is not stopped;
    /// `false` when it is stopped.
    async fn set_deployment_status(
        &self,
        id: Uuid,
        status: DeploymentStatus,
        last_error: Option<&str>,
    ) -> Result<bool>;
    /// Records a health check's outcome, stamped now.
    async fn set_deployment_health(&self, id: Uuid, health: HealthStatus) -> Result<()>;
    /// Marks a deployment stopped and frees its tool for a new one; `false`
    /// when it was already stopped.
    async fn stop_deployment(&self, id: Uuid) -> Result<bool>;
    /// Makes a failed or stopped deployment `starting` again (active, its
    /// error cleared); `false` when it is neither. `Conflict` when its tool
    /// has another active deployment meanwhile.
    async fn restart_deployment(&self, id: Uuid) -> Result<bool>;
    /// Records that a deployment that is not stopped now runs `version` of
    /// its tool (an upgrade); `false` when it is stopped.
    async fn set_deployment_version(&self, id: Uuid, version: &str) -> Result<bool>;
    /// Stores a batch of usage rows, all or none.
    async fn insert_usage(&self, rows: &[UsageRow]) -> Result<()>;
    /// Calls, errors and mean latency of one deployment's usage rows.
    async fn usage_totals(&self, deployment_id: Uuid) -> Result<UsageTotals>;
}
