//! Enqueue dedupe for the broker queues (RabbitMQ, SQS): a broker cannot
//! answer "is there already a job with this idempotency key?", so the key is
//! taken in the relational store before the message is published.
//!
//! The protocol, per enqueue:
//! 1. `INSERT` the key's hash with a fresh job id and `published_at = NULL`.
//!    The primary key makes exactly one of several racing enqueuers win.
//! 2. The winner publishes (and waits for the broker's confirmation), then
//!    stamps `published_at`. If publishing fails, it deletes the row again,
//!    so the caller may retry and the key is not lost.
//! 3. A loser reads the row and answers `created: false` with its job id.
//!
//! The crash window: a process that dies between 1 and the end of 2 leaves
//! a row with `published_at = NULL` and perhaps no message. Such a row older
//! than [`ORPHAN_AFTER`] is an orphan: the next enqueue of that key adopts it
//! (one conditional `UPDATE` decides among racers) and publishes the job
//! under the recorded id. If the dead process had in fact published, the job
//! now has two messages with one id — a duplicate delivery, which every
//! queue allows (at-least-once; handlers are idempotent). So a key is never
//! lost, and never yields two distinct jobs; a job is never enqueued twice
//! except in that window. The scheduler re-enqueues its period's key on every
//! tick until it succeeds, so a periodic job hit by the window still runs.
//!
//! A key is taken until [`JobKeys::purge`] removes it (the
//! `purge_finished_jobs` job, after the retention).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{opt_text, parse_ts, parse_uuid, text, ts, unique_violation, SqlStore};
use crate::digest::sha256_hex;
use crate::domain::job::{Enqueued, JobEnvelope, NewJob};
use crate::error::{Error, Result};

/// An unpublished key older than this was left by a process that died
/// while publishing: its job is published again by the next enqueue.
pub const ORPHAN_AFTER: Duration = Duration::from_secs(60);

/// The `job_keys` table of a relational store.
#[derive(Clone)]
pub struct JobKeys {
    store: SqlStore,
}

/// What a job is published as: the envelope as first delivered (attempt 0,
/// no delivery yet) and how long to hold it back (a `run_at` in the future).
pub struct Publication {
    pub envelope: JobEnvelope,
    pub delay: Option<Duration>,
}

impl JobKeys {
    pub fn new(store: SqlStore) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    /// Enqueues `job` at most once per idempotency key: `publish` sends the
    /// message and returns once the broker has it.
    pub async fn enqueue_once<F, Fut>(&self, job: NewJob, publish: F) -> Result<Enqueued>
    where
        F: Fn(Publication) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        job.validate()?;
        let now = crate::domain::now();
        let id = Uuid::new_v4();
        let key = job
            .idempotency_key
            .clone()
            .unwrap_or_else(|| id.to_string());
        let key_hash = sha256_hex(&key);
        let delay = job
            .run_at
            .and_then(|at| (at - now).to_std().ok())
            .filter(|d| !d.is_zero());
        let publication = |id: Uuid| Publication {
            envelope: JobEnvelope {
                id,
                kind: job.kind.clone(),
                payload: job.payload.clone(),
                attempt: 0,
                idempotency_key: key.clone(),
                priority: job.priority,
                enqueued_at: now,
            },
            delay,
        };

        let inserted = sqlx::query(
            "INSERT INTO job_keys (key_hash, job_id, created_at, published_at) VALUES (?, ?, ?, NULL)",
        )
        .bind(&key_hash)
        .bind(id.to_string())
        .bind(ts(now))
        .execute(self.store.pool())
        .await;
        match inserted {
            Ok(_) => {
                if let Err(e) = publish(publication(id)).await {
                    // Free the key so that a retry of this enqueue can succeed.
                    let _ = sqlx::query("DELETE FROM job_keys WHERE key_hash = ? AND job_id = ?")
                        .bind(&key_hash)
                        .bind(id.to_string())
                        .execute(self.store.pool())
                        .await;
                    return Err(e);
                }
                self.mark_published(&key_hash).await?;
                Ok(Enqueued { id, created: true })
            }
            Err(e) if unique_violation(&e).is_some() => {
                let Some((existing, created_at, published)) = self.find(&key_hash).await? else {
                    return Err(Error::Conflict {
                        detail: "a job with this idempotency key was just removed; retry".into(),
                        resource_type: "job",
                        resource_id: Some(key),
                    });
                };
                let orphan = !published
                    && (now - created_at)
                        .to_std()
                        .is_ok_and(|age| age >= ORPHAN_AFTER);
                if orphan && self.adopt(&key_hash, &created_at, now).await? {
                    tracing::warn!(job_id = %existing, "publishing a job whose enqueuer died before the broker confirmed it");
                    publish(publication(existing)).await?;
                    self.mark_published(&key_hash).await?;
                }
                Ok(Enqueued {
                    id: existing,
                    created: false,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn mark_published(&self, key_hash: &str) -> Result<()> {
        sqlx::query("UPDATE job_keys SET published_at = ? WHERE key_hash = ?")
            .bind(ts(crate::domain::now()))
            .bind(key_hash)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// The job holding the key, when the key was taken, and whether it was published.
    async fn find(&self, key_hash: &str) -> Result<Option<(Uuid, DateTime<Utc>, bool)>> {
        let row =
            sqlx::query("SELECT job_id, created_at, published_at FROM job_keys WHERE key_hash = ?")
                .bind(key_hash)
                .fetch_optional(self.store.pool())
                .await?;
        row.map(|row| {
            Ok((
                parse_uuid(&text(&row, "job_id")?)?,
                parse_ts(&text(&row, "created_at")?)?,
                opt_text(&row, "published_at")?.is_some(),
            ))
        })
        .transpose()
    }

    /// Takes over an orphaned key; `true` for the one racer that did.
    async fn adopt(
        &self,
        key_hash: &str,
        seen: &DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE job_keys SET created_at = ? \
             WHERE key_hash = ? AND created_at = ? AND published_at IS NULL",
        )
        .bind(ts(now))
        .bind(key_hash)
        .bind(ts(*seen))
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Frees the keys taken before `before`; how many.
    pub async fn purge(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM job_keys WHERE created_at < ?")
            .bind(ts(before))
            .execute(self.store.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
