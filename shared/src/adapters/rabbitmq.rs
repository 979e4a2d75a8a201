//! `JobQueue` over RabbitMQ (`lapin`), for the services shape.
//!
//! Topology, per work queue `Q` (declared at connect, idempotently):
//! - `Q`: a durable classic queue with `x-max-priority = 9` (job priority is
//!   the message priority) whose dead-letter exchange is `Q.dlx`;
//! - `Q.dlx` (direct) → `Q.dead`: the dead letters, with the failure in the
//!   `x-mcp-error` header;
//! - `Q.delay.<ms>`: one durable queue per backoff bucket (powers of two
//!   milliseconds) with `x-message-ttl = ms` that dead-letters back into `Q`
//!   through the default exchange. Every message of a bucket has the same
//!   TTL, so expiry at the head of the queue (RabbitMQ's rule) never holds
//!   a short delay behind a long one. A delay is rounded up to its bucket;
//!   a `run_at` more than 2^22 ms (about 70 minutes) ahead is refused.
//!
//! Messages: persistent, body `serde_json(JobEnvelope)` whose `attempt` is
//! the deliveries made before this message. Every publish waits for the
//! broker's confirmation (publisher confirms, `mandatory`), so a job the
//! adapter reports enqueued or retried is on disk at the broker.
//!
//! How `claim(max, lease)` maps: one consumer per process on `Q` with a
//! bounded prefetch (`basic.qos`) feeds a local buffer ordered by priority;
//! `claim` hands out up to `max` of it (waiting briefly for the first) and
//! starts a lease per delivery. Messages are acked manually, only by
//! [`JobQueue::ack`] — after the job's effect — so a delivery not settled
//! when its channel or connection dies (worker crash, network loss) goes
//! back to the broker and is delivered again. A lease that runs out in a
//! live process is enforced here: the delivery is nacked back to the queue.
//! RabbitMQ's own `consumer_timeout` (30 minutes by default) is the last
//! safety net behind both; keep `JOB_LEASE_SECONDS` below it.
//!
//! Attempts: a message the broker redelivers (`redelivered` flag: its
//! earlier delivery ended unsettled) is not handed out as it is; it is
//! republished with that lost delivery counted (or dead-lettered when it was
//! the last allowed one) and the redelivered copy acked. So `attempt` counts
//! every delivery, as the SQL queue does. Prefetched messages not yet
//! claimed when a channel dies are counted too (the prefetch bounds that).
//!
//! Receipts: the token names a lease of this process, created per claim and
//! removed when settled or expired. A stale receipt (lease expired and
//! nacked, already settled, or from before a reconnect) finds no lease and
//! settles nothing, so it can never ack a newer delivery of the job.
//!
//! One connection per adapter (the platform builds one adapter per process),
//! re-established on the next call after it is lost; deliveries of the lost
//! connection are redelivered by the broker. Enqueue dedupe by idempotency
//! key is in the relational store ([`JobKeys`]).

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use lapin::acker::Acker;
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use parking_lot::Mutex;
use uuid::Uuid;

use crate::adapters::sql::{JobKeys, Publication};
use crate::domain::job::{
    stored_error, Delivery, Enqueued, JobCounts, JobEnvelope, NewJob, OldestWaiting, Receipt,
    Retried,
};
use crate::error::{Error, Result};
use crate::ports::{JobQueue, Ping};

/// How long `claim` waits for a first delivery when none is buffered.
const CLAIM_WAIT: Duration = Duration::from_millis(50);
/// How often expired leases are handed back to the broker.
const LEASE_SWEEP: Duration = Duration::from_millis(50);
/// The largest backoff bucket: 2^22 ms (70 minutes) covers the worker's
/// one-hour cap.
const MAX_BUCKET_EXP: u32 = 22;
/// How long connecting may take before the queue counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection and the channels built on it.
#[derive(Clone)]
struct Link {
    generation: u64,
    connection: Arc<Connection>,
    /// Publishes in confirm mode; also declares and inspects queues.
    publish: Channel,
}

/// A delivery waiting in the local buffer.
struct Buffered {
    priority: u8,
    seq: u64,
    generation: u64,
    delivery: AmqpDelivery,
}

impl PartialEq for Buffered {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Buffered {}
impl PartialOrd for Buffered {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Buffered {
    /// Max-heap: higher priority first, then earlier arrival.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

struct Lease {
    job_id: Uuid,
    generation: u64,
    deadline: Instant,
    acker: Acker,
    envelope: JobEnvelope,
    priority: u8,
}

#[derive(Default)]
struct Local {
    /// The generation of the running consumer, if one runs.
    consumer: Option<u64>,
    buffer: BinaryHeap<Buffered>,
    leases: HashMap<String, Lease>,
    seq: u64,
}

struct Inner {
    url: String,
    queue: String,
    keys: JobKeys,
    max_attempts: u32,
    prefetch: u16,
    link: tokio::sync::Mutex<Option<Link>>,
    generations: AtomicU64,
    local: Mutex<Local>,
    arrived: tokio::sync::Notify,
    buckets: Mutex<HashSet<u64>>,
    done: AtomicU64,
}

impl Drop for Inner {
    /// The last handle gone: close the connection, so the broker takes back
    /// what this consumer held at once instead of when the socket times out.
    fn drop(&mut self) {
        if let (Some(link), Ok(runtime)) = (
            self.link.get_mut().take(),
            tokio::runtime::Handle::try_current(),
        ) {
            runtime.spawn(async move {
                let _ = link.connection.close(200, "bye").await;
            });
        }
    }
}

/// The RabbitMQ job queue. Cheap to clone.
#[derive(Clone)]
pub struct RabbitMqJobQueue {
    inner: Arc<Inner>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("RabbitMQ: {what}: {e}"))
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

fn text_value(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// The bucket a delay falls in: the next power of two in milliseconds.
fn bucket_ms(delay: Duration) -> u64 {
    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX).max(1);
    ms.next_power_of_two().min(1 << MAX_BUCKET_EXP)
}

impl RabbitMqJobQueue {
    /// An adapter for work queue `queue` on the broker at `url`
    /// (`amqp://user:pass@host:port/vhost`), deduping enqueues in `keys`.
    /// Connects and declares the topology at once, so a wrong URL fails at
    /// start. `prefetch` bounds the deliveries this process holds.
    pub async fn connect(
        url: &str,
        queue: &str,
        keys: JobKeys,
        max_attempts: u32,
        prefetch: u16,
    ) -> Result<Self> {
        let queue = Self {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                queue: queue.to_owned(),
                keys,
                max_attempts: max_attempts.max(1),
                prefetch: prefetch.max(1),
                link: tokio::sync::Mutex::new(None),
                generations: AtomicU64::new(0),
                local: Mutex::new(Local::default()),
                arrived: tokio::sync::Notify::new(),
                buckets: Mutex::new(HashSet::new()),
                done: AtomicU64::new(0),
            }),
        };
        queue.link().await?;
        Ok(queue)
    }

    pub fn queue_name(&self) -> &str {
        &self.inner.queue
    }

    pub fn dead_queue_name(&self) -> String {
        format!("{}.dead", self.inner.queue)
    }

    /// The live connection, connecting (and declaring the topology) when
    /// there is none or it was lost.
    async fn link(&self) -> Result<Link> {
        let mut guard = self.inner.link.lock().await;
        if let Some(link) = guard.as_ref() {
            if link.connection.status().connected() && link.publish.status().connected() {
                return Ok(link.clone());
            }
            tracing::warn!(queue = %self.inner.queue, "RabbitMQ connection lost; reconnecting");
        }
        *guard = None;
        let connect = Connection::connect(&self.inner.url, ConnectionProperties::default());
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| unavailable("connect", "timed out"))?
            .map_err(|e| unavailable("connect", e))?;
        let publish = connection
            .create_channel()
            .await
            .map_err(|e| unavailable("open a channel", e))?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unavailable("enable publisher confirms", e))?;
        self.declare(&publish).await?;
        let link = Link {
            generation: self.inner.generations.fetch_add(1, Ordering::SeqCst) + 1,
            connection: Arc::new(connection),
            publish,
        };
        *guard = Some(link.clone());
        Ok(link)
    }

    async fn declare(&self, channel: &Channel) -> Result<()> {
        let q = &self.inner.queue;
        let dlx = format!("{q}.dlx");
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .exchange_declare(
                &dlx,
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable("declare the dead-letter exchange", e))?;
        channel
            .queue_declare(&self.dead_queue_name(), durable, FieldTable::default())
            .await
            .map_err(|e| unavailable("declare the dead-letter queue", e))?;
        channel
            .queue_bind(
                &self.dead_queue_name(),
                &dlx,
                q,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable("bind the dead-letter queue", e))?;
        channel
            .queue_declare(
                q,
                durable,
                table(&[
                    ("x-max-priority", AMQPValue::ShortShortUInt(9)),
                    ("x-dead-letter-exchange", text_value(&dlx)),
                    ("x-dead-letter-routing-key", text_value(q)),
                ]),
            )
            .await
            .map_err(|e| unavailable(&format!("declare queue {q}"), e))?;
        Ok(())
    }

    /// Declares the delay queue of a bucket (once per process).
    async fn delay_queue(&self, channel: &Channel, ms: u64) -> Result<String> {
        let name = format!("{}.delay.{ms}", self.inner.queue);
        if self.inner.buckets.lock().contains(&ms) {
            return Ok(name);
        }
        channel
            .queue_declare(
                &name,
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                table(&[
                    (
                        "x-message-ttl",
                        AMQPValue::LongLongInt(i64::try_from(ms).unwrap_or(i64::MAX)),
                    ),
                    ("x-dead-letter-exchange", text_value("")),
                    ("x-dead-letter-routing-key", text_value(&self.inner.queue)),
                ]),
            )
            .await
            .map_err(|e| unavailable(&format!("declare delay queue {name}"), e))?;
        self.inner.buckets.lock().insert(ms);
        Ok(name)
    }

    /// Publishes and waits for the broker's confirmation.
    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        envelope: &JobEnvelope,
        headers: FieldTable,
    ) -> Result<()> {
        let link = self.link().await?;
        let body = serde_json::to_vec(envelope)
            .map_err(|e| Error::internal(format!("job envelope: {e}")))?;
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_priority(envelope.priority.get())
            .with_message_id(envelope.id.to_string().into())
            .with_content_type("application/json".into())
            .with_headers(headers);
        let confirm = link
            .publish
            .basic_publish(
                exchange,
                routing_key,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &body,
                properties,
            )
            .await
            .map_err(|e| unavailable("publish", e))?
            .await
            .map_err(|e| unavailable("publish confirmation", e))?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) => Err(unavailable(
                "publish",
                format!(
                    "no queue took the message ({})",
                    returned.reply_text.as_str()
                ),
            )),
            Confirmation::Nack(_) => Err(unavailable("publish", "the broker refused the message")),
            Confirmation::NotRequested => Err(Error::internal(
                "RabbitMQ publish channel is not in confirm mode",
            )),
        }
    }

    /// Publishes a job to run after `delay` (at once when zero); when it runs.
    async fn publish_job(
        &self,
        envelope: &JobEnvelope,
        delay: Option<Duration>,
    ) -> Result<DateTime<Utc>> {
        let now = crate::domain::now();
        match delay.filter(|d| !d.is_zero()) {
            None => {
                self.publish("", &self.inner.queue, envelope, FieldTable::default())
                    .await?;
                Ok(now)
            }
            Some(delay) => {
                let ms = bucket_ms(delay);
                let link = self.link().await?;
                let queue = self.delay_queue(&link.publish, ms).await?;
                self.publish("", &queue, envelope, FieldTable::default())
                    .await?;
                Ok(now + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX)))
            }
        }
    }

    async fn publish_dead(&self, envelope: &JobEnvelope, error: &str) -> Result<()> {
        self.publish(
            &format!("{}.dlx", self.inner.queue),
            &self.inner.queue,
            envelope,
            table(&[("x-mcp-error", text_value(stored_error(error)))]),
        )
        .await
    }

    /// Starts the consumer of the current connection if none runs.
    async fn ensure_consumer(&self) -> Result<()> {
        let link = self.link().await?;
        if self.inner.local.lock().consumer == Some(link.generation) {
            return Ok(());
        }
        let channel = link
            .connection
            .create_channel()
            .await
            .map_err(|e| unavailable("open the consumer channel", e))?;
        channel
            .basic_qos(self.inner.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| unavailable("set the prefetch", e))?;
        let tag = format!("mcp-{}", Uuid::new_v4().simple());
        let mut consumer = channel
            .basic_consume(
                &self.inner.queue,
                &tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable("consume", e))?;
        {
            let mut local = self.inner.local.lock();
            // Whatever an earlier connection delivered is the broker's again.
            local.buffer.clear();
            local.leases.retain(|_, l| l.generation == link.generation);
            local.consumer = Some(link.generation);
        }
        let generation = link.generation;
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            // Keeps the channel open for as long as the consumer runs.
            let _channel = channel;
            while let Some(next) = consumer.next().await {
                let Some(inner) = weak.upgrade() else { return };
                match next {
                    Ok(delivery) => {
                        let mut local = inner.local.lock();
                        local.seq += 1;
                        let seq = local.seq;
                        local.buffer.push(Buffered {
                            priority: delivery.properties.priority().unwrap_or(0),
                            seq,
                            generation,
                            delivery,
                        });
                        drop(local);
                        inner.arrived.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "RabbitMQ consumer failed; it restarts on the next claim");
                        break;
                    }
                }
            }
            if let Some(inner) = weak.upgrade() {
                let mut local = inner.local.lock();
                if local.consumer == Some(generation) {
                    local.consumer = None;
                }
            }
        });
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LEASE_SWEEP);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.local.lock().consumer != Some(generation) {
                    return;
                }
                expire_leases(&inner).await;
            }
        });
        Ok(())
    }

    /// Turns a buffered delivery into a leased one, or deals with it here:
    /// a redelivery is republished with its lost delivery counted, an
    /// unreadable message is dead-lettered by the broker.
    async fn admit(&self, buffered: Buffered, lease: Duration) -> Result<Option<Delivery>> {
        let Buffered {
            priority,
            delivery,
            generation,
            ..
        } = buffered;
        let mut envelope: JobEnvelope = match serde_json::from_slice(&delivery.data) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(error = %e, "a message that is not a job envelope; dead-lettered");
                let _ = delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await;
                return Ok(None);
            }
        };
        if delivery.redelivered {
            // Its earlier delivery ended unsettled: count it.
            envelope.attempt += 1;
            if envelope.attempt >= self.inner.max_attempts {
                let error = format!(
                    "lease expired on the last of {} attempts (worker stopped or timed out)",
                    self.inner.max_attempts
                );
                self.publish_dead(&envelope, &error).await?;
            } else {
                self.publish("", &self.inner.queue, &envelope, FieldTable::default())
                    .await?;
            }
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            return Ok(None);
        }
        envelope.attempt += 1;
        let token = Uuid::new_v4().to_string();
        let receipt = Receipt {
            job_id: envelope.id,
            attempt: envelope.attempt,
            token: token.clone(),
        };
        self.inner.local.lock().leases.insert(
            token,
            Lease {
                job_id: envelope.id,
                generation,
                deadline: Instant::now() + lease,
                acker: delivery.acker,
                envelope: envelope.clone(),
                priority,
            },
        );
        Ok(Some(Delivery {
            job: envelope,
            receipt,
        }))
    }

    /// Removes the receipt's lease if it is still live on this connection.
    fn take_lease(&self, receipt: &Receipt) -> Option<Lease> {
        let current = self.inner.generations.load(Ordering::SeqCst);
        let mut local = self.inner.local.lock();
        let lease = local.leases.get(&receipt.token)?;
        if lease.job_id != receipt.job_id || lease.envelope.attempt != receipt.attempt {
            return None;
        }
        let lease = local.leases.remove(&receipt.token)?;
        (lease.generation == current).then_some(lease)
    }

    /// Deletes work queue `queue`, its delay and dead-letter queues and
    /// its dead-letter exchange (tests, teardown). Missing ones are fine.
    pub async fn delete_topology(url: &str, queue: &str) -> Result<()> {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(|e| unavailable("connect", e))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| unavailable("open a channel", e))?;
        let mut names = vec![queue.to_owned(), format!("{queue}.dead")];
        names.extend((0..=MAX_BUCKET_EXP).map(|e| format!("{queue}.delay.{}", 1u64 << e)));
        for name in names {
            channel
                .queue_delete(&name, QueueDeleteOptions::default())
                .await
                .map_err(|e| unavailable(&format!("delete queue {name}"), e))?;
        }
        channel
            .exchange_delete(&format!("{queue}.dlx"), ExchangeDeleteOptions::default())
            .await
            .map_err(|e| unavailable("delete the dead-letter exchange", e))?;
        let _ = connection.close(200, "bye").await;
        Ok(())
    }

    /// Closes the connection (graceful shutdown; unsettled deliveries go back).
    pub async fn close(&self) {
        if let Some(link) = self.inner.link.lock().await.take() {
            let _ = link.connection.close(200, "bye").await;
        }
    }

    /// Ready messages in a queue, without creating it.
    async fn ready(&self, channel: &Channel, queue: &str) -> Result<u64> {
        let declared = channel
            .queue_declare(
                queue,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| unavailable(&format!("inspect queue {queue}"), e))?;
        Ok(u64::from(declared.message_count()))
    }
}

/// Refuses a `run_at` further ahead than the transport can hold a message.
pub(crate) fn too_far_ahead(job: &NewJob, limit: Duration, transport: &str) -> Result<()> {
    let ahead = job
        .run_at
        .and_then(|at| (at - crate::domain::now()).to_std().ok())
        .unwrap_or_default();
    if ahead > limit {
        return Err(Error::Validation(vec![crate::error::FieldError::new(
            &["job", "run_at"],
            "value_error",
            format!("{transport} holds a job back at most {} s", limit.as_secs()),
        )]));
    }
    Ok(())
}

/// Hands the deliveries whose lease ran out back to the broker, which
/// redelivers them (flagged `redelivered`, so the attempt is counted).
async fn expire_leases(inner: &Inner) {
    let now = Instant::now();
    let expired: Vec<Lease> = {
        let mut local = inner.local.lock();
        let tokens: Vec<String> = local
            .leases
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(t, _)| t.clone())
            .collect();
        tokens
            .iter()
            .filter_map(|t| local.leases.remove(t))
            .collect()
    };
    for lease in expired {
        tracing::warn!(job_id = %lease.job_id, priority = lease.priority, "lease expired; the job goes back to the queue");
        give_back(&lease.acker).await;
    }
}

#[async_trait]
impl Ping for RabbitMqJobQueue {
    async fn ping(&self) -> Result<()> {
        self.link().await.map(|_| ())
    }
}

#[async_trait]
impl JobQueue for RabbitMqJobQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        too_far_ahead(&job, Duration::from_millis(1 << MAX_BUCKET_EXP), "RabbitMQ")?;
        self.inner
            .keys
            .enqueue_once(job, |p: Publication| async move {
                self.publish_job(&p.envelope, p.delay).await.map(|_| ())
            })
            .await
    }

    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.ensure_consumer().await?;
        expire_leases(&self.inner).await;
        let deadline = Instant::now() + CLAIM_WAIT;
        let mut out = Vec::new();
        loop {
            let current = self.inner.generations.load(Ordering::SeqCst);
            let popped: Vec<Buffered> = {
                let mut local = self.inner.local.lock();
                let mut popped = Vec::new();
                while popped.len() < max - out.len() {
                    let Some(next) = local.buffer.pop() else {
                        break;
                    };
                    if next.generation == current {
                        popped.push(next);
                    }
                }
                popped
            };
            for buffered in popped {
                if let Some(delivery) = self.admit(buffered, lease).await? {
                    out.push(delivery);
                }
            }
            let now = Instant::now();
            if out.len() >= max || (!out.is_empty() && self.inner.local.lock().buffer.is_empty()) {
                break;
            }
            if now >= deadline {
                break;
            }
            let _ = tokio::time::timeout(deadline - now, self.inner.arrived.notified()).await;
            if !out.is_empty() && self.inner.local.lock().buffer.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    async fn ack(&self, receipt: &Receipt) -> Result<bool> {
        let Some(lease) = self.take_lease(receipt) else {
            return Ok(false);
        };
        let acked = lease.acker.ack(BasicAckOptions::default()).await.is_ok();
        if acked {
            self.inner.done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(acked)
    }

    async fn retry(&self, receipt: &Receipt, delay: Duration, error: &str) -> Result<Retried> {
        let Some(lease) = self.take_lease(receipt) else {
            return Ok(Retried::LeaseLost);
        };
        if lease.envelope.attempt >= self.inner.max_attempts {
            if let Err(e) = self.publish_dead(&lease.envelope, error).await {
                give_back(&lease.acker).await;
                return Err(e);
            }
            let _ = lease.acker.ack(BasicAckOptions::default()).await;
            return Ok(Retried::DeadLettered);
        }
        // The copy carries the deliveries made so far.
        match self.publish_job(&lease.envelope, Some(delay)).await {
            Ok(at) => {
                let _ = lease.acker.ack(BasicAckOptions::default()).await;
                Ok(Retried::Scheduled { at })
            }
            Err(e) => {
                give_back(&lease.acker).await;
                Err(e)
            }
        }
    }

    async fn dead_letter(&self, receipt: &Receipt, error: &str) -> Result<bool> {
        let Some(lease) = self.take_lease(receipt) else {
            return Ok(false);
        };
        if let Err(e) = self.publish_dead(&lease.envelope, error).await {
            give_back(&lease.acker).await;
            return Err(e);
        }
        let _ = lease.acker.ack(BasicAckOptions::default()).await;
        Ok(true)
    }

    /// `queued`: ready in the work and delay queues; `running`: held by
    /// this process (leased or prefetched) — the broker does not report
    /// other consumers' unacked messages over AMQP; `done`: acked by this
    /// process (a broker keeps no finished jobs); `dead`: in `Q.dead`.
    async fn counts(&self) -> Result<JobCounts> {
        let link = self.link().await?;
        let mut queued = self.ready(&link.publish, &self.inner.queue).await?;
        let buckets: Vec<u64> = self.inner.buckets.lock().iter().copied().collect();
        for ms in buckets {
            let name = format!("{}.delay.{ms}", self.inner.queue);
            queued += self.ready(&link.publish, &name).await?;
        }
        let dead = self.ready(&link.publish, &self.dead_queue_name()).await?;
        let running = {
            let local = self.inner.local.lock();
            (local.leases.len() + local.buffer.len()) as u64
        };
        Ok(JobCounts {
            queued,
            running,
            done: self.inner.done.load(Ordering::Relaxed),
            dead,
            oldest_waiting: OldestWaiting::Unknown,
        })
    }

    /// The broker keeps no finished jobs: this frees the idempotency keys
    /// taken before `before` and reports 0 jobs.
    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64> {
        self.inner.keys.purge(before).await?;
        Ok(0)
    }
}

/// Returns a delivery to the queue at once (its settlement could not be
/// stored); the broker redelivers it. Best effort: a lost channel returns it
/// anyway.
async fn give_back(acker: &lapin::acker::Acker) {
    let _ = acker
        .nack(BasicNackOptions {
            multiple: false,
            requeue: true,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_to_power_of_two_buckets() {
        assert_eq!(bucket_ms(Duration::ZERO), 1);
        assert_eq!(bucket_ms(Duration::from_millis(5)), 8);
        assert_eq!(bucket_ms(Duration::from_millis(400)), 512);
        assert_eq!(bucket_ms(Duration::from_millis(512)), 512);
        assert_eq!(bucket_ms(Duration::from_secs(3600)), 1 << 22);
        assert_eq!(bucket_ms(Duration::from_secs(86_400)), 1 << 22);
    }
}
