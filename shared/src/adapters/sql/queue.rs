//! `JobQueue` over SQL: the durable queue of the embedded shape (SQLite),
//! and a working queue on MySQL/MariaDB too.
//!
//! A job row is `queued`, `running`, `done` or `dead`. One column,
//! `available_at`, says when a row may next be claimed: for a queued job its
//! run-at time (now, or the end of a backoff), for a running one the end of
//! its lease. So "claimable" is one condition for both — not finished and
//! `available_at <= now` — and an expired lease needs no sweeper: the next
//! claim takes the job over (at-least-once).
//!
//! Claiming without `SKIP LOCKED` (SQLite has none, and the shared SQL
//! avoids it): read up to N candidates in priority order, then one
//! conditional `UPDATE … WHERE id IN (…) AND <still claimable>` that stamps a
//! fresh lease token and counts the attempt, then read back the rows that
//! carry the token. Both engines check the condition against the row's
//! latest committed version under the row's write lock, so of two claimers
//! racing for a row exactly one changes it. A claimer that lost every race
//! tries the next candidates a few times before it reports "nothing".
//!
//! Settling a delivery (ack, retry, dead-letter) is conditional on the lease
//! token of the receipt, so a worker whose lease expired and was taken over
//! settles nothing. A lease that expired but was not taken over can still be
//! settled by its holder: the work was done, no one else has started it.
//!
//! Dedupe: a unique index on the SHA-256 of the idempotency key (fixed
//! width, no collation surprises: MySQL's case- and pad-insensitive
//! comparisons would merge keys SQLite keeps apart). An insert that hits it
//! is the same job, reported as not created. A key is taken until its row is
//! purged (`purge_finished`).
//!
//! Times come from the clock of the process that claims; several hosts on
//! one MySQL need clocks that agree to well under a lease.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, QueryBuilder, Row};
use uuid::Uuid;

use super::{opt_text, parse_opt_ts, parse_ts, parse_uuid, text, ts, unique_violation, SqlStore};
use crate::digest::sha256_hex;
use crate::domain::job::{
    stored_error, Delivery, Enqueued, JobCounts, JobEnvelope, NewJob, OldestWaiting, Priority,
    Receipt, Retried,
};
use crate::error::{Error, Result};
use crate::ports::{JobQueue, Ping};

const JOB_COLUMNS: &str =
    "id, kind, payload, idempotency_key, priority, status, attempts, available_at, enqueued_at, \
     finished_at, last_error";

/// How many times one `claim` call goes back for more candidates after
/// other claimers took all of the ones it read.
const CLAIM_ROUNDS: usize = 4;

/// The life-cycle states of a job row, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "done" => Ok(Self::Done),
            "dead" => Ok(Self::Dead),
            other => Err(Error::internal(format!("stored job status {other:?}"))),
        }
    }
}

/// A job row as stored, for operators and tests (the port exposes only
/// deliveries and counts, which every transport can provide).
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    pub idempotency_key: String,
    pub priority: Priority,
    pub status: JobStatus,
    /// Deliveries so far.
    pub attempts: u32,
    /// When a queued job may run, or when a running job's lease ends.
    pub available_at: DateTime<Utc>,
    pub enqueued_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

fn record_from_row(row: &AnyRow) -> Result<JobRecord> {
    let payload = serde_json::from_str(&text(row, "payload")?)
        .map_err(|e| Error::internal(format!("stored job payload: {e}")))?;
    let priority: i64 = row.try_get("priority")?;
    let priority = u8::try_from(priority)
        .map_err(|e| e.to_string())
        .and_then(Priority::new)
        .map_err(|e| Error::internal(format!("stored job priority: {e}")))?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(JobRecord {
        id: parse_uuid(&text(row, "id")?)?,
        kind: text(row, "kind")?,
        payload,
        idempotency_key: text(row, "idempotency_key")?,
        priority,
        status: JobStatus::parse(&text(row, "status")?)?,
        attempts: u32::try_from(attempts)
            .map_err(|e| Error::internal(format!("stored job attempts: {e}")))?,
        available_at: parse_ts(&text(row, "available_at")?)?,
        enqueued_at: parse_ts(&text(row, "enqueued_at")?)?,
        finished_at: parse_opt_ts(opt_text(row, "finished_at")?)?,
        last_error: opt_text(row, "last_error")?,
    })
}

/// The durable table queue. Cheap to clone; shares the store's pool.
#[derive(Clone)]
pub struct SqlJobQueue {
    store: SqlStore,
    max_attempts: u32,
}

impl SqlJobQueue {
    /// A queue over `store`'s `jobs` table. A job is delivered at most
    /// `max_attempts` times (at least 1); then it is dead-lettered.
    pub fn new(store: SqlStore, max_attempts: u32) -> Self {
        Self {
            store,
            max_attempts: max_attempts.max(1),
        }
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// One job as stored.
    pub async fn job(&self, id: Uuid) -> Result<Option<JobRecord>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(self.store.pool())
            .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Dead-lettered jobs, most recently finished first.
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'dead' \
             ORDER BY finished_at DESC, id LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn existing(&self, key_hash: &str) -> Result<Option<Uuid>> {
        let row = sqlx::query("SELECT id FROM jobs WHERE key_hash = ?")
            .bind(key_hash)
            .fetch_optional(self.store.pool())
            .await?;
        row.map(|r| text(&r, "id").and_then(|id| parse_uuid(&id)))
            .transpose()
    }

    /// Dead-letters jobs whose last allowed delivery ended without a
    /// verdict (the worker died or overran its lease), as SQS's redrive
    /// policy does after `maxReceiveCount`.
    async fn bury_spent(&self, ids: &[String], now: &str) -> Result<()> {
        let error = format!(
            "lease expired on the last of {} attempts (worker stopped or timed out)",
            self.max_attempts
        );
        for id in ids {
            sqlx::query(
                "UPDATE jobs SET status = 'dead', lease_token = NULL, finished_at = ?, last_error = ? \
                 WHERE id = ? AND status IN ('queued', 'running') AND available_at <= ? AND attempts >= ?",
            )
            .bind(now)
            .bind(&error)
            .bind(id)
            .bind(now)
            .bind(i64::from(self.max_attempts))
            .execute(self.store.pool())
            .await?;
        }
        Ok(())
    }

    /// One round of claiming: `None` when there was nothing to claim at all,
    /// `Some(empty)` when other claimers won every candidate.
    async fn claim_round(&self, max: usize, lease: Duration) -> Result<Option<Vec<Delivery>>> {
        let now_at = crate::domain::now();
        let now = ts(now_at);
        let candidates = sqlx::query(
            "SELECT id, attempts FROM jobs \
             WHERE status IN ('queued', 'running') AND available_at <= ? \
             ORDER BY priority DESC, available_at, id LIMIT ?",
        )
        .bind(&now)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(self.store.pool())
        .await?;
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut live = Vec::with_capacity(candidates.len());
        let mut spent = Vec::new();
        for row in &candidates {
            let id = text(row, "id")?;
            let attempts: i64 = row.try_get("attempts")?;
            if attempts >= i64::from(self.max_attempts) {
                spent.push(id);
            } else {
                live.push(id);
            }
        }
        if !spent.is_empty() {
            self.bury_spent(&spent, &now).await?;
        }
        if live.is_empty() {
            return Ok(Some(Vec::new()));
        }

        let token = Uuid::new_v4().to_string();
        let lease = chrono::Duration::from_std(lease)
            .map_err(|e| Error::internal(format!("lease {lease:?}: {e}")))?;
        let mut claim =
            QueryBuilder::<Any>::new("UPDATE jobs SET status = 'running', lease_token = ");
        claim
            .push_bind(&token)
            .push(", attempts = attempts + 1, available_at = ")
            .push_bind(ts(now_at + lease))
            .push(" WHERE id IN (");
        let mut ids = claim.separated(", ");
        for id in &live {
            ids.push_bind(id);
        }
        claim
            .push(") AND status IN ('queued', 'running') AND available_at <= ")
            .push_bind(&now)
            .push(" AND attempts < ")
            .push_bind(i64::from(self.max_attempts));
        let claimed = match claim.build().execute(self.store.pool()).await {
            Ok(done) => done.rows_affected(),
            // Two InnoDB claimers can deadlock on the candidate rows; the
            // loser's statement is rolled back whole, so it simply got nothing.
            Err(e) if is_deadlock(&e) => 0,
            Err(e) => return Err(e.into()),
        };
        if claimed == 0 {
            return Ok(Some(Vec::new()));
        }

        let mut read =
            QueryBuilder::<Any>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ("));
        let mut ids = read.separated(", ");
        for id in &live {
            ids.push_bind(id);
        }
        read.push(") AND lease_token = ")
            .push_bind(&token)
            .push(" ORDER BY priority DESC, enqueued_at, id");
        let rows = read.build().fetch_all(self.store.pool()).await?;
        let deliveries = rows
            .iter()
            .map(|row| {
                let record = record_from_row(row)?;
                Ok(Delivery {
                    receipt: Receipt {
                        job_id: record.id,
                        attempt: record.attempts,
                        token: token.clone(),
                    },
                    job: JobEnvelope {
                        id: record.id,
                        kind: record.kind,
                        payload: record.payload,
                        attempt: record.attempts,
                        idempotency_key: record.idempotency_key,
                        priority: record.priority,
                        enqueued_at: record.enqueued_at,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(deliveries))
    }

    /// Moves a leased job to a final state, if the lease is still ours.
    async fn finish(&self, receipt: &Receipt, status: &str, error: Option<&str>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET status = ?, lease_token = NULL, finished_at = ?, last_error = ? \
             WHERE id = ? AND lease_token = ? AND status = 'running'",
        )
        .bind(status)
        .bind(ts(crate::domain::now()))
        .bind(error.map(stored_error))
        .bind(receipt.job_id.to_string())
        .bind(&receipt.token)
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// MySQL's deadlock (1213, SQLSTATE 40001): the statement was rolled back.
fn is_deadlock(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| c == "40001" || c == "1213")
                || db.message().contains("Deadlock found")
        }
        _ => false,
    }
}

#[async_trait]
impl Ping for SqlJobQueue {
    async fn ping(&self) -> Result<()> {
        self.store.ping().await
    }
}

#[async_trait]
impl JobQueue for SqlJobQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        job.validate()?;
        let id = Uuid::new_v4();
        let key = job.idempotency_key.unwrap_or_else(|| id.to_string());
        let key_hash = sha256_hex(&key);
        let now = crate::domain::now();
        let payload = serde_json::to_string(&job.payload)
            .map_err(|e| Error::internal(format!("job payload: {e}")))?;
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, kind, payload, idempotency_key, key_hash, priority, status, \
             attempts, available_at, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)",
        )
        .bind(id.to_string())
        .bind(&job.kind)
        .bind(payload)
        .bind(&key)
        .bind(&key_hash)
        .bind(i64::from(job.priority.get()))
        .bind(ts(job.run_at.unwrap_or(now)))
        .bind(ts(now))
        .execute(self.store.pool())
        .await;
        match inserted {
            Ok(_) => Ok(Enqueued { id, created: true }),
            Err(e) if unique_violation(&e).is_some() => {
                let existing = self.existing(&key_hash).await?.ok_or_else(|| {
                    // Purged between the insert and this read: the key was
                    // taken a moment ago, which is still "not created".
                    Error::Conflict {
                        detail: "a job with this idempotency key was just removed; retry".into(),
                        resource_type: "job",
                        resource_id: Some(key.clone()),
                    }
                })?;
                Ok(Enqueued {
                    id: existing,
                    created: false,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        for _ in 0..CLAIM_ROUNDS {
            match self.claim_round(max, lease).await? {
                None => return Ok(Vec::new()),
                Some(won) if !won.is_empty() => return Ok(won),
                Some(_) => {}
            }
        }
        Ok(Vec::new())
    }

    async fn ack(&self, receipt: &Receipt) -> Result<bool> {
        self.finish(receipt, JobStatus::Done.as_str(), None).await
    }

    async fn retry(&self, receipt: &Receipt, delay: Duration, error: &str) -> Result<Retried> {
        if receipt.attempt >= self.max_attempts {
            let buried = self
                .finish(receipt, JobStatus::Dead.as_str(), Some(error))
                .await?;
            return Ok(if buried {
                Retried::DeadLettered
            } else {
                Retried::LeaseLost
            });
        }
        let delay = chrono::Duration::from_std(delay)
            .map_err(|e| Error::internal(format!("retry delay {delay:?}: {e}")))?;
        let at = crate::domain::now() + delay;
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', lease_token = NULL, available_at = ?, last_error = ? \
             WHERE id = ? AND lease_token = ? AND status = 'running'",
        )
        .bind(ts(at))
        .bind(stored_error(error))
        .bind(receipt.job_id.to_string())
        .bind(&receipt.token)
        .execute(self.store.pool())
        .await?;
        Ok(if done.rows_affected() == 1 {
            Retried::Scheduled { at }
        } else {
            Retried::LeaseLost
        })
    }

    async fn dead_letter(&self, receipt: &Receipt, error: &str) -> Result<bool> {
        self.finish(receipt, JobStatus::Dead.as_str(), Some(error))
            .await
    }

    async fn counts(&self) -> Result<JobCounts> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
            .fetch_all(self.store.pool())
            .await?;
        let mut counts = JobCounts::default();
        for row in &rows {
            let n: i64 = row.try_get("n")?;
            let n = u64::try_from(n).unwrap_or(0);
            match JobStatus::parse(&text(row, "status")?)? {
                JobStatus::Queued => counts.queued = n,
                JobStatus::Running => counts.running = n,
                JobStatus::Done => counts.done = n,
                JobStatus::Dead => counts.dead = n,
            }
        }
        // A queued job is free to run from `available_at`; a running one
        // whose lease ended there waits to be reclaimed.
        let oldest = sqlx::query(
            "SELECT MIN(available_at) AS since FROM jobs \
             WHERE status IN ('queued', 'running') AND available_at <= ?",
        )
        .bind(ts(crate::domain::now()))
        .fetch_one(self.store.pool())
        .await?;
        counts.oldest_waiting = match parse_opt_ts(opt_text(&oldest, "since")?)? {
            Some(at) => OldestWaiting::Since(at),
            None => OldestWaiting::Nothing,
        };
        Ok(counts)
    }

    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM jobs WHERE status IN ('done', 'dead') AND finished_at < ?")
                .bind(ts(before))
                .execute(self.store.pool())
                .await?;
        Ok(done.rows_affected())
    }
}
