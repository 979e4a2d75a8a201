//! `JobQueue` over Amazon SQS (`aws-sdk-sqs`), for the cloud shape.
//!
//! **Wire contract** (shared with the Lambda SQS handler `functions/job-worker`):
//! the message body is exactly `serde_json::to_string(&JobEnvelope)`. The
//! body's `attempt` is 0 (not delivered yet); a consumer takes the attempt
//! from the message's `ApproximateReceiveCount` system attribute instead,
//! which SQS counts on every receive. Nothing else (no message attributes)
//! is needed to run a job.
//!
//! Mapping of the port:
//! - `enqueue`: dedupe by idempotency key in the relational store
//!   ([`JobKeys`]), then `SendMessage`, batched: concurrent enqueues are
//!   coalesced into `SendMessageBatch` calls of up to 10 entries. A future
//!   `run_at` becomes `DelaySeconds`; one more than 15 minutes ahead (SQS's
//!   limit) is refused (`Validation` on `job.run_at`).
//! - `claim(max, lease)`: one `ReceiveMessage` of up to `min(max, 10)`
//!   messages with long polling (`wait`) and a visibility timeout of the
//!   lease rounded up to whole seconds. SQS has no priorities: a batch is
//!   sorted by priority, and across batches order is SQS's (best-effort FIFO).
//! - The receipt token is the receipt handle of this receive. A lease that
//!   runs out makes the message visible again (SQS's visibility timeout).
//! - `ack`: `DeleteMessage` — only after the job's effect.
//! - `retry`: `ChangeMessageVisibility(delay)` (whole seconds, rounded up,
//!   at most 12 hours); on the last allowed attempt the job is sent to the
//!   dead-letter queue with its error and deleted instead.
//! - `dead_letter`: send to the DLQ (error in the `mcp_error` attribute),
//!   then delete.
//! - Jobs whose worker dies on every attempt: the queue's redrive policy
//!   (`maxReceiveCount` = max attempts) moves them to the DLQ.
//!
//! Queues: `sqs://NAME` names the queue; it and `NAME-dlq` are created when
//! missing, with the redrive policy (development, moto). An `https://` queue
//! URL is used as it is (queues owned by infrastructure code); its redrive
//! policy must name the DLQ.
//!
//! Stale receipts: SQS itself accepts an older receipt handle of a message
//! that was received again (`DeleteMessage` "succeeds but might not delete",
//! moto deletes). So the adapter settles only the latest delivery of a job
//! that this process received: a receipt that is not it (settled already,
//! superseded by a newer receive, forged) settles nothing. Across processes
//! the SQS rule stands — a stale holder finished the job's effect before it
//! acked, so its delete removes a job whose effect is done.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
pub use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::adapters::sql::{JobKeys, Publication};
use crate::config::Secret;
use crate::domain::job::{
    Delivery, Enqueued, JobCounts, JobEnvelope, NewJob, OldestWaiting, Receipt, Retried,
};
use crate::error::{Error, Result};
use crate::ports::{JobQueue, Ping};

/// The longest visibility timeout SQS accepts: 12 hours.
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// The longest message delay SQS accepts: 15 minutes.
const MAX_DELAY_SECS: u64 = 900;
/// Entries in one batch call.
const BATCH: usize = 10;
/// Enqueues waiting for the batch sender before new ones wait for room.
const SEND_BACKLOG: usize = 1000;

/// How to reach SQS. Unset fields come from the AWS SDK's usual chain
/// (environment, profile, instance role).
#[derive(Debug, Clone, Default)]
pub struct SqsClientOptions {
    pub region: Option<String>,
    /// A local endpoint (moto, LocalStack) instead of AWS.
    pub endpoint_url: Option<String>,
    /// Static credentials (tests); normally from the SDK chain.
    pub credentials: Option<(String, Secret)>,
}

/// Builds an SQS client.
pub async fn client(options: &SqsClientOptions) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some((key, secret)) = &options.credentials {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            key,
            secret.expose(),
            None,
            None,
            "mcp-platform-settings",
        ));
    }
    Client::new(&loader.load().await)
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("SQS: {what}: {e}"))
}

/// Whole seconds, rounded up, at most `max`.
fn ceil_secs(d: Duration, max: u64) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs.min(max)).unwrap_or(i32::MAX)
}

struct Outgoing {
    body: String,
    delay_secs: i32,
    done: oneshot::Sender<Result<()>>,
}

/// The SQS job queue. Cheap to clone.
#[derive(Clone)]
pub struct SqsJobQueue {
    client: Client,
    queue_url: String,
    dlq_url: String,
    keys: JobKeys,
    max_attempts: u32,
    wait: Duration,
    sender: mpsc::Sender<Outgoing>,
    done: Arc<AtomicU64>,
    /// The latest delivery of each job this process received and has not
    /// settled: its receipt handle and envelope (a dead letter carries the
    /// job, and the receipt alone does not).
    claimed: Arc<Mutex<HashMap<uuid::Uuid, (String, JobEnvelope)>>>,
}

impl SqsJobQueue {
    /// An adapter for `queue` (`sqs://NAME` or an `https://` queue URL).
    /// `wait` is the long-polling time of a claim (whole seconds, ≤ 20).
    pub async fn connect(
        client: Client,
        queue: &str,
        keys: JobKeys,
        max_attempts: u32,
        wait: Duration,
    ) -> Result<Self> {
        let max_attempts = max_attempts.max(1);
        let (queue_url, dlq_url) = match queue.strip_prefix("sqs://") {
            Some(name) => ensure_queues(&client, name.trim_end_matches('/'), max_attempts).await?,
            None => {
                let dlq = dlq_of(&client, queue).await?;
                (queue.to_owned(), dlq)
            }
        };
        let (sender, outgoing) = mpsc::channel(SEND_BACKLOG);
        tokio::spawn(send_batches(client.clone(), queue_url.clone(), outgoing));
        Ok(Self {
            client,
            queue_url,
            dlq_url,
            keys,
            max_attempts,
            wait: wait.min(Duration::from_secs(20)),
            sender,
            done: Arc::new(AtomicU64::new(0)),
            claimed: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn dlq_url(&self) -> &str {
        &self.dlq_url
    }

    /// Deletes queue `NAME` and `NAME-dlq` if they exist (tests, teardown).
    pub async fn delete_queues(client: &Client, name: &str) -> Result<()> {
        for name in [name.to_owned(), format!("{name}-dlq")] {
            let Ok(found) = client.get_queue_url().queue_name(&name).send().await else {
                continue;
            };
            if let Some(url) = found.queue_url() {
                client
                    .delete_queue()
                    .queue_url(url)
                    .send()
                    .await
                    .map_err(|e| unavailable("delete queue", e.into_service_error()))?;
            }
        }
        Ok(())
    }

    async fn send_dead(&self, envelope: &JobEnvelope, error: &str) -> Result<()> {
        let body = serde_json::to_string(envelope)
            .map_err(|e| Error::internal(format!("job envelope: {e}")))?;
        let mut error = error.to_owned();
        if error.is_empty() {
            error.push('-');
        }
        // Attribute values are limited with the body to 256 KiB; errors are short.
        error.truncate(
            error
                .char_indices()
                .nth(4000)
                .map_or(error.len(), |(i, _)| i),
        );
        self.client
            .send_message()
            .queue_url(&self.dlq_url)
            .message_body(body)
            .message_attributes(
                "mcp_error",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(error)
                    .build()
                    .map_err(|e| Error::internal(format!("SQS attribute: {e}")))?,
            )
            .send()
            .await
            .map_err(|e| unavailable("send to the dead-letter queue", e.into_service_error()))?;
        Ok(())
    }

    /// Deletes a delivery; `false` when SQS refuses the receipt handle.
    async fn delete(&self, receipt: &Receipt) -> Result<bool> {
        match self
            .client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&receipt.token)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_receipt_handle_is_invalid() || e.is_invalid_id_format() {
                    Ok(false)
                } else {
                    Err(unavailable("delete message", e))
                }
            }
        }
    }

    /// The envelope of the receipt's delivery if it is the latest unsettled
    /// one of its job in this process; it is settled from now on.
    fn take(&self, receipt: &Receipt) -> Option<JobEnvelope> {
        let mut claimed = self.claimed.lock();
        match claimed.get(&receipt.job_id) {
            Some((token, _)) if *token == receipt.token => claimed
                .remove(&receipt.job_id)
                .map(|(_, envelope)| envelope),
            _ => None,
        }
    }

    async fn counts_of(&self, url: &str) -> Result<HashMap<QueueAttributeName, String>> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| unavailable("read queue attributes", e.into_service_error()))?;
        Ok(out.attributes().cloned().unwrap_or_default())
    }
}

/// Creates `name` and `name-dlq` when missing, with the redrive policy.
async fn ensure_queues(client: &Client, name: &str, max_attempts: u32) -> Result<(String, String)> {
    let dlq_name = format!("{name}-dlq");
    let dlq_url = queue_url_or_create(client, &dlq_name, None).await?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| unavailable("read the DLQ's ARN", e.into_service_error()))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| unavailable("read the DLQ's ARN", "no QueueArn"))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_attempts.to_string(),
    })
    .to_string();
    let url = queue_url_or_create(client, name, Some(&redrive)).await?;
    // An existing queue gets the policy of this configuration.
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(|e| unavailable("set the redrive policy", e.into_service_error()))?;
    Ok((url, dlq_url))
}

async fn queue_url_or_create(client: &Client, name: &str, redrive: Option<&str>) -> Result<String> {
    if let Ok(found) = client.get_queue_url().queue_name(name).send().await {
        if let Some(url) = found.queue_url() {
            return Ok(url.to_owned());
        }
    }
    let mut create = client.create_queue().queue_name(name);
    if let Some(redrive) = redrive {
        create = create.attributes(QueueAttributeName::RedrivePolicy, redrive);
    }
    let created = create
        .send()
        .await
        .map_err(|e| unavailable(&format!("create queue {name}"), e.into_service_error()))?;
    created
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| unavailable("create queue", "no queue URL in the answer"))
}

/// The DLQ URL named by an existing queue's redrive policy.
async fn dlq_of(client: &Client, queue_url: &str) -> Result<String> {
    let attributes = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| unavailable(&format!("read queue {queue_url}"), e.into_service_error()))?;
    let policy = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy).cloned())
        .ok_or_else(|| {
            Error::internal(format!(
                "SQS queue {queue_url} has no redrive policy: give it a dead-letter queue"
            ))
        })?;
    let arn = serde_json::from_str::<serde_json::Value>(&policy)
        .ok()
        .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            Error::internal(format!(
                "redrive policy of {queue_url}: no deadLetterTargetArn"
            ))
        })?;
    let name = arn.rsplit(':').next().unwrap_or_default();
    client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| unavailable(&format!("find the DLQ {name}"), e.into_service_error()))?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| unavailable("find the DLQ", "no queue URL in the answer"))
}

/// Coalesces waiting enqueues into `SendMessageBatch` calls.
async fn send_batches(client: Client, queue_url: String, mut outgoing: mpsc::Receiver<Outgoing>) {
    while let Some(first) = outgoing.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match outgoing.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let entries: std::result::Result<Vec<_>, _> = batch
            .iter()
            .enumerate()
            .map(|(i, o)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&o.body)
                    .delay_seconds(o.delay_secs)
                    .build()
            })
            .collect();
        let sent = match entries {
            Ok(entries) => client
                .send_message_batch()
                .queue_url(&queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| unavailable("send messages", e.into_service_error())),
            Err(e) => Err(Error::internal(format!("SQS batch entry: {e}"))),
        };
        match sent {
            Ok(out) => {
                let failed: HashMap<&str, String> = out
                    .failed()
                    .iter()
                    .map(|f| {
                        (
                            f.id(),
                            format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                        )
                    })
                    .collect();
                for (i, o) in batch.into_iter().enumerate() {
                    let result = match failed.get(i.to_string().as_str()) {
                        None => Ok(()),
                        Some(why) => Err(unavailable("send message", why)),
                    };
                    let _ = o.done.send(result);
                }
            }
            Err(e) => {
                let why = e.to_string();
                for o in batch {
                    let _ = o.done.send(Err(Error::Unavailable(why.clone())));
                }
            }
        }
    }
}

#[async_trait]
impl Ping for SqsJobQueue {
    async fn ping(&self) -> Result<()> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| unavailable("ping", e.into_service_error()))?;
        Ok(())
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        if let Some(at) = job.run_at {
            let ahead = (at - crate::domain::now()).to_std().unwrap_or_default();
            if ahead > Duration::from_secs(MAX_DELAY_SECS) {
                return Err(Error::Validation(vec![crate::error::FieldError::new(
                    &["job", "run_at"],
                    "value_error",
                    format!("SQS holds a job back at most {MAX_DELAY_SECS} s"),
                )]));
            }
        }
        self.keys
            .enqueue_once(job, |p: Publication| async move {
                let body = serde_json::to_string(&p.envelope)
                    .map_err(|e| Error::internal(format!("job envelope: {e}")))?;
                let (done, answer) = oneshot::channel();
                let delay_secs = p.delay.map_or(0, |d| ceil_secs(d, MAX_DELAY_SECS));
                self.sender
                    .send(Outgoing {
                        body,
                        delay_secs,
                        done,
                    })
                    .await
                    .map_err(|_| unavailable("send message", "the sender stopped"))?;
                answer
                    .await
                    .map_err(|_| unavailable("send message", "the sender stopped"))?
            })
            .await
    }

    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max.min(BATCH)).unwrap_or(1))
            .visibility_timeout(ceil_secs(lease, MAX_VISIBILITY_SECS).max(1))
            .wait_time_seconds(ceil_secs(self.wait, 20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| unavailable("receive messages", e.into_service_error()))?;
        let mut deliveries = Vec::new();
        for message in out.messages() {
            let (Some(body), Some(handle)) = (message.body(), message.receipt_handle()) else {
                continue;
            };
            let mut envelope: JobEnvelope = match serde_json::from_str(body) {
                Ok(envelope) => envelope,
                Err(e) => {
                    // Not ours to run: leave it to the redrive policy.
                    tracing::warn!(error = %e, "an SQS message that is not a job envelope");
                    continue;
                }
            };
            envelope.attempt = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            self.claimed
                .lock()
                .insert(envelope.id, (handle.to_owned(), envelope.clone()));
            deliveries.push(Delivery {
                receipt: Receipt {
                    job_id: envelope.id,
                    attempt: envelope.attempt,
                    token: handle.to_owned(),
                },
                job: envelope,
            });
        }
        // No priorities in SQS: at least a batch runs highest first.
        deliveries.sort_by(|a, b| {
            b.job
                .priority
                .cmp(&a.job.priority)
                .then(a.job.enqueued_at.cmp(&b.job.enqueued_at))
        });
        Ok(deliveries)
    }

    async fn ack(&self, receipt: &Receipt) -> Result<bool> {
        if self.take(receipt).is_none() {
            return Ok(false);
        }
        let deleted = self.delete(receipt).await?;
        if deleted {
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(deleted)
    }

    async fn retry(&self, receipt: &Receipt, delay: Duration, error: &str) -> Result<Retried> {
        if receipt.attempt >= self.max_attempts {
            return Ok(if self.dead_letter(receipt, error).await? {
                Retried::DeadLettered
            } else {
                Retried::LeaseLost
            });
        }
        if self.take(receipt).is_none() {
            return Ok(Retried::LeaseLost);
        }
        let secs = ceil_secs(delay, MAX_VISIBILITY_SECS);
        let changed = self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&receipt.token)
            .visibility_timeout(secs)
            .send()
            .await;
        match changed {
            Ok(_) => Ok(Retried::Scheduled {
                at: crate::domain::now() + chrono::Duration::seconds(i64::from(secs)),
            }),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_receipt_handle_is_invalid() || e.is_message_not_inflight() {
                    Ok(Retried::LeaseLost)
                } else {
                    Err(unavailable("change message visibility", e))
                }
            }
        }
    }

    async fn dead_letter(&self, receipt: &Receipt, error: &str) -> Result<bool> {
        let Some(envelope) = self.take(receipt) else {
            return Ok(false);
        };
        self.send_dead(&envelope, error).await?;
        self.delete(receipt).await
    }

    /// `queued`: visible and delayed messages; `running`: in flight
    /// (received, not deleted; includes jobs waiting out a retry delay);
    /// `done`: deleted by this process; `dead`: messages in the DLQ.
    /// SQS's numbers are approximate.
    async fn counts(&self) -> Result<JobCounts> {
        let main = self.counts_of(&self.queue_url).await?;
        let dead = self.counts_of(&self.dlq_url).await?;
        let n = |a: &HashMap<QueueAttributeName, String>, k: QueueAttributeName| -> u64 {
            a.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        Ok(JobCounts {
            queued: n(&main, QueueAttributeName::ApproximateNumberOfMessages)
                + n(
                    &main,
                    QueueAttributeName::ApproximateNumberOfMessagesDelayed,
                ),
            running: n(
                &main,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ),
            done: self.done.load(Ordering::Relaxed),
            dead: n(&dead, QueueAttributeName::ApproximateNumberOfMessages),
            oldest_waiting: OldestWaiting::Unknown,
        })
    }

    /// SQS keeps no finished jobs: this frees the idempotency keys taken
    /// before `before` and reports 0 jobs.
    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64> {
        self.keys.purge(before).await?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_whole_seconds_within_the_limit() {
        assert_eq!(ceil_secs(Duration::ZERO, 900), 0);
        assert_eq!(ceil_secs(Duration::from_millis(5), 900), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2), 900), 2);
        assert_eq!(ceil_secs(Duration::from_secs(3600), 900), 900);
    }
}
