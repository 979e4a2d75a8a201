//! The job system (SPEC §2 "queue", §5 item 9).
//!
//! - A contract suite for `JobQueue`, run against the SQL queue on SQLite
//!   always and on MySQL when `MCP_TEST_MYSQL_URL` is set: priority order,
//!   dedupe, ack after the effect, lease expiry, retry with backoff,
//!   dead-lettering, concurrent claimers, purging.
//! - The worker: a poison job ends dead-lettered while others keep flowing;
//!   shutdown finishes what is in flight.
//! - The scheduler: two schedulers ticking concurrently enqueue each periodic
//!   job once per period.
//! - The crash test: a worker process is SIGKILLed again and again while
//!   jobs flow; afterwards each job's effect is recorded exactly once.
//! - The `worker` and `scheduler` subcommands of the real binary.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mcp_platform::adapters::rabbitmq::RabbitMqJobQueue;
use mcp_platform::adapters::sql::{JobKeys, JobStatus, SqlJobQueue, SqlStore};
use mcp_platform::adapters::sqs::SqsJobQueue;
use mcp_platform::jobs::{
    Job, JobContext, JobError, NewJob, OldestWaiting, Priority, Registry, Retried,
};
use mcp_platform::ports::{JobQueue, SessionStore, UserRepo};
use mcp_platform::scheduler::{standard_schedule, Scheduler};
use mcp_platform::worker::{Worker, WorkerOptions};
use mcp_platform_tests::backends::{self, MysqlDatabase};
use mcp_platform_tests::brokers::{RabbitQueue, SqsQueue};
use mcp_platform_tests::platform_binary;
use mcp_platform_tests::tempdir::TempDir;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

/// A lease no test outlives: a job claimed with it stays claimed.
const LONG_LEASE: Duration = Duration::from_secs(600);

// ------------------------------------------------------------ databases

/// A migrated, empty database: SQLite in a temp dir or a fresh MySQL database.
struct Db {
    name: &'static str,
    url: String,
    store: SqlStore,
    dir: TempDir,
    _mysql: Option<MysqlDatabase>,
}

impl Db {
    async fn sqlite() -> Self {
        let dir = TempDir::new();
        let url = format!("sqlite://{}", dir.0.join("mcp-platform.db").display());
        Self::open("sqlite", url, dir, None).await
    }

    async fn mysql(server: &str) -> Self {
        let db = MysqlDatabase::create(server).await;
        Self::open("mysql", db.url.clone(), TempDir::new(), Some(db)).await
    }

    async fn open(
        name: &'static str,
        url: String,
        dir: TempDir,
        mysql: Option<MysqlDatabase>,
    ) -> Self {
        let store = SqlStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{name}: connect {url}: {e}"));
        store
            .migrator()
            .run(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{name}: migrate: {e}"));
        Self {
            name,
            url,
            store,
            dir,
            _mysql: mysql,
        }
    }

    /// Another connection pool on the same database, as a second process has.
    async fn second_store(&self) -> SqlStore {
        SqlStore::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("{}: second connection: {e}", self.name))
    }

    fn queue(&self, max_attempts: u32) -> SqlJobQueue {
        SqlJobQueue::new(self.store.clone(), max_attempts)
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.name))
    }
}

/// SQLite always, MySQL when `MCP_TEST_MYSQL_URL` is set.
async fn databases() -> Vec<Db> {
    let mut dbs = vec![Db::sqlite().await];
    if let Some(server) = backends::mysql_url() {
        dbs.push(Db::mysql(&server).await);
    }
    dbs
}

// ------------------------------------------------------------ helpers

/// Polls `check` until it yields a value; fails naming `what` at the deadline.
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn job(kind: &str, key: &str) -> NewJob {
    NewJob::raw(kind, json!({ "key": key })).idempotency_key(key)
}

fn priority(p: u8) -> Priority {
    Priority::new(p).expect("a priority 0-9")
}

/// A shutdown switch for workers run in-process.
struct Stop(watch::Sender<bool>);

impl Stop {
    fn new() -> Self {
        Self(watch::channel(false).0)
    }

    fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    fn stop(&self) {
        self.0.send_replace(true);
    }
}

// ------------------------------------------------------------ the queues

/// What carries the jobs of a [`Subject`].
enum Transport {
    Sql,
    Rabbit(RabbitQueue),
    Sqs(SqsQueue),
}

/// A queue under test: the SQL queue of a database, or a broker whose
/// idempotency keys (and the tests' ledgers) live in a fresh SQLite database.
struct Subject {
    name: &'static str,
    db: Db,
    max_attempts: u32,
    queue: Arc<dyn JobQueue>,
    /// The SQL queue itself, for what only it can show (stored rows).
    sql: Option<SqlJobQueue>,
    transport: Transport,
    /// The finest lease and delay the transport honours (SQS: whole seconds).
    tick: Duration,
    /// `queue` as its type, when it is RabbitMQ (to close it).
    rabbit: Option<RabbitMqJobQueue>,
}

impl Subject {
    async fn sql(db: Db, max_attempts: u32) -> Self {
        let sql = db.queue(max_attempts);
        Self {
            name: db.name,
            queue: Arc::new(sql.clone()),
            sql: Some(sql),
            db,
            max_attempts,
            transport: Transport::Sql,
            tick: Duration::from_millis(1),
            rabbit: None,
        }
    }

    async fn rabbitmq(max_attempts: u32) -> Self {
        let mut subject = Self {
            name: "rabbitmq",
            db: Db::sqlite().await,
            max_attempts,
            queue: Arc::new(NoQueue),
            sql: None,
            transport: Transport::Rabbit(RabbitQueue::new().await),
            tick: Duration::from_millis(1),
            rabbit: None,
        };
        subject.reopen().await;
        subject
    }

    async fn sqs(max_attempts: u32) -> Self {
        let mut subject = Self {
            name: "sqs",
            db: Db::sqlite().await,
            max_attempts,
            queue: Arc::new(NoQueue),
            sql: None,
            transport: Transport::Sqs(SqsQueue::new().await),
            tick: Duration::from_secs(1),
            rabbit: None,
        };
        subject.queue = subject.open().await;
        subject
    }

    /// Another handle on the same queue, as another process has.
    async fn open(&self) -> Arc<dyn JobQueue> {
        match &self.transport {
            Transport::Sql => Arc::new(SqlJobQueue::new(
                self.db.second_store().await,
                self.max_attempts,
            )),
            Transport::Rabbit(_) => Arc::new(self.open_rabbit().await),
            Transport::Sqs(q) => Arc::new(
                SqsJobQueue::connect(
                    q.client().await,
                    &q.url(),
                    JobKeys::new(self.db.second_store().await),
                    self.max_attempts,
                    Duration::ZERO,
                )
                .await
                .expect("connect to SQS"),
            ),
        }
    }

    async fn open_rabbit(&self) -> RabbitMqJobQueue {
        let Transport::Rabbit(q) = &self.transport else {
            panic!("{} is not RabbitMQ", self.name);
        };
        RabbitMqJobQueue::connect(
            &q.url,
            &q.name,
            JobKeys::new(self.db.second_store().await),
            self.max_attempts,
            16,
        )
        .await
        .expect("connect to RabbitMQ")
    }

    /// RabbitMQ: closes the handle and opens a new one, whose consumer starts
    /// afresh and sees the ready messages in the broker's priority order
    /// (a running consumer takes each message as it is published). Its
    /// deliveries must be settled first. Other queues: nothing to do.
    async fn reopen(&mut self) {
        if !matches!(self.transport, Transport::Rabbit(_)) {
            return;
        }
        if let Some(old) = self.rabbit.take() {
            old.close().await;
        }
        let fresh = self.open_rabbit().await;
        self.queue = Arc::new(fresh.clone());
        self.rabbit = Some(fresh);
    }

    /// `ms`, or the transport's tick when that is coarser.
    fn lease(&self, ms: u64) -> Duration {
        Duration::from_millis(ms).max(self.tick)
    }

    /// Environment of a worker process on this queue.
    fn vars(&self) -> Vec<(String, String)> {
        match &self.transport {
            Transport::Sql => Vec::new(),
            Transport::Rabbit(q) => q.vars(),
            Transport::Sqs(q) => q.vars(),
        }
    }

    /// Claims until `n` deliveries came (brokers hand over a batch as it arrives).
    async fn claim_n(&self, n: usize, lease: Duration) -> Vec<mcp_platform::jobs::Delivery> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < n {
            assert!(
                Instant::now() < deadline,
                "{}: only {} of {n} jobs claimed",
                self.name,
                got.len()
            );
            got.extend(self.queue.claim(n - got.len(), lease).await.expect("claim"));
        }
        got
    }

    /// Waits until a claim yields a delivery.
    async fn claim_one(&self, what: &str, lease: Duration) -> mcp_platform::jobs::Delivery {
        eventually(what, Duration::from_secs(15), || async {
            self.queue
                .claim(1, lease)
                .await
                .expect("claim")
                .into_iter()
                .next()
        })
        .await
    }
}

/// A placeholder while a subject's broker handle is being opened.
struct NoQueue;

#[async_trait]
impl mcp_platform::ports::Ping for NoQueue {
    async fn ping(&self) -> mcp_platform::error::Result<()> {
        Ok(())
    }
}

#[async_trait]
impl JobQueue for NoQueue {
    async fn enqueue(
        &self,
        _: NewJob,
    ) -> mcp_platform::error::Result<mcp_platform::jobs::Enqueued> {
        Err(mcp_platform::error::Error::internal("no queue"))
    }
    async fn claim(
        &self,
        _: usize,
        _: Duration,
    ) -> mcp_platform::error::Result<Vec<mcp_platform::jobs::Delivery>> {
        Ok(Vec::new())
    }
    async fn ack(&self, _: &mcp_platform::jobs::Receipt) -> mcp_platform::error::Result<bool> {
        Ok(false)
    }
    async fn retry(
        &self,
        _: &mcp_platform::jobs::Receipt,
        _: Duration,
        _: &str,
    ) -> mcp_platform::error::Result<Retried> {
        Ok(Retried::LeaseLost)
    }
    async fn dead_letter(
        &self,
        _: &mcp_platform::jobs::Receipt,
        _: &str,
    ) -> mcp_platform::error::Result<bool> {
        Ok(false)
    }
    async fn counts(&self) -> mcp_platform::error::Result<mcp_platform::jobs::JobCounts> {
        Ok(Default::default())
    }
    async fn purge_finished(&self, _: DateTime<Utc>) -> mcp_platform::error::Result<u64> {
        Ok(0)
    }
}

/// Every queue: SQL on SQLite (and MySQL when configured), RabbitMQ, SQS.
async fn subjects(max_attempts: u32) -> Vec<Subject> {
    let mut subjects = Vec::new();
    for db in databases().await {
        subjects.push(Subject::sql(db, max_attempts).await);
    }
    subjects.push(Subject::rabbitmq(max_attempts).await);
    subjects.push(Subject::sqs(max_attempts).await);
    subjects
}

// ------------------------------------------------------------ the contract

#[tokio::test]
async fn a_claimed_job_carries_the_envelope_it_was_enqueued_with() {
    for s in subjects(5).await {
        let (name, queue) = (s.name, s.queue.clone());
        let before = mcp_platform::domain::now();
        let payload = json!({"tool": "ünïcödé ✓", "n": 7, "nested": {"list": [1, 2]}});
        let enqueued = queue
            .enqueue(
                NewJob::raw("echo", payload.clone())
                    .idempotency_key("echo:1")
                    .priority(priority(7)),
            )
            .await
            .expect("enqueue");
        assert!(enqueued.created, "{name}: a new key creates a job");

        let claimed = s.claim_n(1, LONG_LEASE).await;
        let delivery = &claimed[0];
        let envelope = &delivery.job;
        assert_eq!(envelope.id, enqueued.id, "{name}: id");
        assert_eq!(envelope.kind, "echo", "{name}: kind");
        assert_eq!(envelope.payload, payload, "{name}: payload round-trips");
        assert_eq!(envelope.attempt, 1, "{name}: first delivery is attempt 1");
        assert_eq!(envelope.idempotency_key, "echo:1", "{name}: key");
        assert_eq!(envelope.priority, priority(7), "{name}: priority");
        assert!(
            envelope.enqueued_at >= before && envelope.enqueued_at <= mcp_platform::domain::now(),
            "{name}: enqueued_at is the time of the enqueue"
        );
        assert_eq!(
            delivery.receipt.job_id, enqueued.id,
            "{name}: receipt names the job"
        );
        assert_eq!(
            delivery.receipt.attempt, 1,
            "{name}: receipt names the attempt"
        );

        let keyless = queue
            .enqueue(NewJob::raw("echo", json!(null)))
            .await
            .expect("enqueue without key");
        let claimed = s.claim_n(1, LONG_LEASE).await;
        assert_eq!(
            claimed[0].job.idempotency_key,
            keyless.id.to_string(),
            "{name}: a job without a key is keyed by its own id"
        );
    }
}

#[tokio::test]
async fn claims_come_out_by_priority_then_oldest_first() {
    for mut s in subjects(5).await {
        let name = s.name;
        if matches!(s.transport, Transport::Sqs(_)) {
            // SQS has no priorities (see adapters/sqs.rs): nothing to order.
            continue;
        }
        let order = [(3, "a"), (9, "b"), (0, "c"), (9, "d"), (5, "e"), (3, "f")];
        for (p, key) in order {
            s.queue
                .enqueue(job("ordered", key).priority(priority(p)))
                .await
                .expect("enqueue");
        }
        let mut one_by_one = Vec::new();
        for _ in 0..order.len() {
            let delivery = s.claim_n(1, LONG_LEASE).await.remove(0);
            one_by_one.push(delivery.job.idempotency_key.clone());
            assert!(s.queue.ack(&delivery.receipt).await.expect("ack"));
        }
        assert!(
            s.queue
                .claim(1, LONG_LEASE)
                .await
                .expect("claim")
                .is_empty(),
            "{name}: nothing else"
        );
        assert_eq!(
            one_by_one,
            ["b", "d", "e", "a", "f", "c"],
            "{name}: highest priority first, FIFO within a priority"
        );

        s.reopen().await;
        for (p, key) in order {
            s.queue
                .enqueue(job("ordered", &format!("batch-{key}")).priority(priority(p)))
                .await
                .expect("enqueue");
        }
        let batch = s.claim_n(order.len(), LONG_LEASE).await;
        for d in &batch {
            assert!(s.queue.ack(&d.receipt).await.expect("ack"), "{name}");
        }
        let batch: Vec<String> = batch.into_iter().map(|d| d.job.idempotency_key).collect();
        assert_eq!(
            batch,
            ["batch-b", "batch-d", "batch-e", "batch-a", "batch-f", "batch-c"],
            "{name}: a batch claim is in the same order"
        );

        s.reopen().await;
        for key in ["low-1", "low-2"] {
            s.queue
                .enqueue(job("ordered", key).priority(priority(1)))
                .await
                .expect("enqueue");
        }
        s.queue
            .enqueue(job("ordered", "urgent").priority(priority(9)))
            .await
            .expect("enqueue");
        let first = s.claim_n(1, LONG_LEASE).await;
        assert_eq!(
            first[0].job.idempotency_key, "urgent",
            "{name}: a later urgent job overtakes older low-priority ones"
        );
    }
}

#[tokio::test]
async fn enqueuing_one_idempotency_key_twice_yields_one_job() {
    for s in subjects(5).await {
        let (name, queue) = (s.name, s.queue.clone());
        let first = queue.enqueue(job("dedupe", "same")).await.expect("first");
        let second = queue
            .enqueue(NewJob::raw("other-kind", json!({"different": true})).idempotency_key("same"))
            .await
            .expect("second");
        assert!(first.created, "{name}: the first enqueue creates");
        assert!(!second.created, "{name}: the second does not");
        assert_eq!(
            second.id, first.id,
            "{name}: the second names the existing job"
        );

        // Keys are compared exactly, on both dialects.
        for key in ["Same", "same ", "sáme"] {
            assert!(
                queue
                    .enqueue(job("dedupe", key))
                    .await
                    .expect("variant")
                    .created,
                "{name}: {key:?} is a different key from \"same\""
            );
        }

        // Many enqueuers racing with one key: exactly one job.
        let racers: Vec<_> = (0..16)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.enqueue(job("dedupe", "raced")).await })
            })
            .collect();
        let mut created = 0;
        let mut ids = HashSet::new();
        for racer in racers {
            let enqueued = racer.await.expect("task").expect("enqueue");
            created += usize::from(enqueued.created);
            ids.insert(enqueued.id);
        }
        assert_eq!(created, 1, "{name}: one of 16 concurrent enqueues creates");
        assert_eq!(ids.len(), 1, "{name}: all 16 name the same job");

        // A finished job still holds its key.
        let delivery = s.claim_n(5, LONG_LEASE).await;
        for d in &delivery {
            assert!(queue.ack(&d.receipt).await.expect("ack"), "{name}");
        }
        assert!(
            queue.claim(10, LONG_LEASE).await.expect("claim").is_empty(),
            "{name}: five jobs, no more"
        );
        assert!(
            !queue
                .enqueue(job("dedupe", "same"))
                .await
                .expect("again")
                .created,
            "{name}: a done job's key is still taken"
        );
        let counts = queue.counts().await.expect("counts");
        assert_eq!(counts.done + counts.pending(), 5, "{name}: {counts:?}");
    }
}

#[tokio::test]
async fn a_job_is_done_only_once_acked_and_an_ack_needs_the_live_lease() {
    for s in subjects(5).await {
        let (name, queue) = (s.name, s.queue.clone());
        queue.enqueue(job("effect", "k")).await.expect("enqueue");
        let claimed = s.claim_n(1, LONG_LEASE).await;
        let receipt = claimed[0].receipt.clone();
        let counts = queue.counts().await.expect("counts");
        assert_eq!(
            (counts.queued, counts.running),
            (0, 1),
            "{name}: leased is running"
        );
        assert!(
            queue.claim(5, LONG_LEASE).await.expect("claim").is_empty(),
            "{name}: a leased job is not handed out twice"
        );

        assert!(
            queue.ack(&receipt).await.expect("ack"),
            "{name}: the holder acks"
        );
        let counts = queue.counts().await.expect("counts");
        assert_eq!(
            (counts.running, counts.done),
            (0, 1),
            "{name}: acked is done"
        );
        assert!(
            queue.claim(5, s.lease(1)).await.expect("claim").is_empty(),
            "{name}: a done job is never delivered again"
        );
        assert!(
            !queue.ack(&receipt).await.expect("ack again"),
            "{name}: a settled delivery cannot be acked twice"
        );
        assert_eq!(
            queue
                .retry(&receipt, Duration::ZERO, "late")
                .await
                .expect("retry"),
            Retried::LeaseLost,
            "{name}: nor retried"
        );
        queue.enqueue(job("effect", "k2")).await.expect("enqueue");
        let other = s.claim_n(1, LONG_LEASE).await.remove(0);
        let forged = mcp_platform::jobs::Receipt {
            token: Uuid::new_v4().to_string(),
            ..other.receipt
        };
        assert!(
            !queue.ack(&forged).await.expect("forged ack"),
            "{name}: a receipt with another lease token settles nothing"
        );
    }
}

#[tokio::test]
async fn an_expired_lease_redelivers_the_job_and_voids_the_old_receipt() {
    for s in subjects(5).await {
        let (name, queue) = (s.name, s.queue.clone());
        queue.enqueue(job("lease", "k")).await.expect("enqueue");
        let lease = s.lease(300);
        // Taken before the claim: the lease starts when the queue hands the
        // job out, which is after this and (on a loaded broker) may be well
        // before the claim returns.
        let started = Instant::now();
        let first = s.claim_one("the job is delivered", lease).await;
        assert!(
            queue.claim(1, lease).await.expect("claim").is_empty(),
            "{name}: hidden while the lease runs"
        );
        let second = s.claim_one("the lease expires", LONG_LEASE).await;
        assert!(
            started.elapsed() + Duration::from_millis(50) >= lease,
            "{name}: redelivered only after the lease ({:?})",
            started.elapsed()
        );
        assert_eq!(second.job.id, first.job.id, "{name}: the same job");
        assert_eq!(second.job.attempt, 2, "{name}: counted as a second attempt");
        assert_ne!(second.receipt, first.receipt, "{name}: a new lease");
        assert!(
            !queue.ack(&first.receipt).await.expect("stale ack"),
            "{name}: the first holder lost its lease"
        );
        assert!(queue.ack(&second.receipt).await.expect("ack"), "{name}");
    }
}

#[tokio::test]
async fn the_oldest_waiting_job_is_reported_where_the_transport_can_tell() {
    for s in subjects(5).await {
        let (name, queue) = (s.name, s.queue.clone());
        let waiting = || async { queue.counts().await.expect("counts").oldest_waiting };
        if s.sql.is_none() {
            queue.enqueue(job("waits", "w1")).await.expect("enqueue");
            assert_eq!(
                waiting().await,
                OldestWaiting::Unknown,
                "{name}: a broker cannot tell"
            );
            continue;
        }
        assert_eq!(
            waiting().await,
            OldestWaiting::Nothing,
            "{name}: an empty queue"
        );
        let before = mcp_platform::domain::now();
        queue.enqueue(job("waits", "w1")).await.expect("enqueue");
        tokio::time::sleep(Duration::from_millis(20)).await;
        queue.enqueue(job("waits", "w2")).await.expect("enqueue");
        let OldestWaiting::Since(at) = waiting().await else {
            panic!("{name}: two jobs wait");
        };
        assert!(
            at >= before && at <= before + chrono::Duration::milliseconds(15),
            "{name}: the first job's wait counts, from its enqueue ({at} vs {before})"
        );
        let claimed = s.claim_n(2, LONG_LEASE).await;
        assert_eq!(
            waiting().await,
            OldestWaiting::Nothing,
            "{name}: both leased"
        );
        queue
            .retry(&claimed[0].receipt, Duration::from_secs(600), "later")
            .await
            .expect("retry");
        assert_eq!(
            waiting().await,
            OldestWaiting::Nothing,
            "{name}: a job in its backoff does not wait for a worker yet"
        );
    }
}

#[tokio::test]
async fn a_retried_job_waits_out_its_backoff_and_counts_the_attempt() {
    for s in subjects(5).await {
        let (name, queue) = (s.name, s.queue.clone());
        let enqueued = queue.enqueue(job("flaky", "k")).await.expect("enqueue");
        let first = s.claim_n(1, LONG_LEASE).await.remove(0);
        let delay = Duration::from_millis(400);
        let retried_at = Instant::now();
        let before = mcp_platform::domain::now();
        let outcome = queue
            .retry(&first.receipt, delay, "upstream timed out")
            .await
            .expect("retry");
        let Retried::Scheduled { at } = outcome else {
            panic!("{name}: a first failure is scheduled again, got {outcome:?}");
        };
        assert!(
            at >= before + chrono::Duration::milliseconds(400),
            "{name}: runs again no earlier than the delay"
        );
        if let Some(sql) = &s.sql {
            let stored = sql.job(enqueued.id).await.expect("read").expect("stored");
            assert_eq!(stored.status, JobStatus::Queued, "{name}");
            assert_eq!(
                stored.available_at, at,
                "{name}: stored run-at is the reported one"
            );
            assert_eq!(
                stored.last_error.as_deref(),
                Some("upstream timed out"),
                "{name}"
            );
        }
        assert!(
            queue.claim(1, LONG_LEASE).await.expect("claim").is_empty(),
            "{name}: not claimable during the backoff"
        );

        let second = s.claim_one("the backoff ends", LONG_LEASE).await;
        assert!(
            retried_at.elapsed() >= delay - Duration::from_millis(1),
            "{name}: delivered after {:?}, before the {delay:?} backoff",
            retried_at.elapsed()
        );
        assert_eq!(second.job.id, enqueued.id, "{name}: the same job");
        assert_eq!(second.job.attempt, 2, "{name}: the retry is attempt 2");
        assert_eq!(
            second.job.payload, first.job.payload,
            "{name}: same payload"
        );
    }
}

#[tokio::test]
async fn a_job_is_dead_lettered_after_max_attempts_whether_it_fails_or_its_worker_dies() {
    for s in subjects(3).await {
        let (name, queue) = (s.name, s.queue.clone());
        let failing = queue.enqueue(job("failing", "f")).await.expect("enqueue");
        for attempt in 1..=3u32 {
            let delivery = s.claim_one("the job is claimable", LONG_LEASE).await;
            assert_eq!(delivery.job.attempt, attempt, "{name}");
            let outcome = queue
                .retry(
                    &delivery.receipt,
                    Duration::ZERO,
                    &format!("boom {attempt}"),
                )
                .await
                .expect("retry");
            if attempt < 3 {
                assert!(
                    matches!(outcome, Retried::Scheduled { .. }),
                    "{name}: {outcome:?}"
                );
            } else {
                assert_eq!(
                    outcome,
                    Retried::DeadLettered,
                    "{name}: the third failure is the last"
                );
            }
        }
        if let Some(sql) = &s.sql {
            let stored = sql.job(failing.id).await.expect("read").expect("stored");
            assert_eq!(stored.status, JobStatus::Dead, "{name}");
            assert_eq!(stored.attempts, 3, "{name}");
            assert_eq!(stored.last_error.as_deref(), Some("boom 3"), "{name}");
        }
        assert!(
            queue.claim(1, s.lease(1)).await.expect("claim").is_empty(),
            "{name}: a dead job is never delivered"
        );
        assert_eq!(queue.counts().await.expect("counts").dead, 1, "{name}");

        // A job whose worker dies every time: its leases run out.
        let crashing = queue.enqueue(job("crashing", "c")).await.expect("enqueue");
        let lease = s.lease(100);
        for attempt in 1..=3u32 {
            let delivery = s.claim_one("the lease runs out", lease).await;
            assert_eq!(delivery.job.attempt, attempt, "{name}");
        }
        eventually(
            "the spent job is buried",
            Duration::from_secs(15),
            || async {
                assert!(
                    queue.claim(1, lease).await.expect("claim").is_empty(),
                    "{name}: no 4th delivery"
                );
                (queue.counts().await.expect("counts").dead == 2).then_some(())
            },
        )
        .await;
        if let Some(sql) = &s.sql {
            let stored = sql.job(crashing.id).await.expect("read").expect("stored");
            assert_eq!(stored.status, JobStatus::Dead, "{name}");
            assert!(
                stored
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("lease expired")),
                "{name}: says why: {:?}",
                stored.last_error
            );
        }

        // A permanent failure goes straight to the dead letters.
        queue.enqueue(job("bad", "b")).await.expect("enqueue");
        let delivery = s.claim_n(1, LONG_LEASE).await.remove(0);
        assert!(queue
            .dead_letter(&delivery.receipt, "payload does not decode")
            .await
            .expect("dead-letter"));
        let counts = queue.counts().await.expect("counts");
        assert_eq!(counts.dead, 3, "{name}: {counts:?}");
        assert_eq!(counts.pending(), 0, "{name}: {counts:?}");
        if let Some(sql) = &s.sql {
            let dead: Vec<_> = sql
                .dead_letters(10)
                .await
                .expect("dead letters")
                .into_iter()
                .map(|j| j.idempotency_key)
                .collect();
            assert_eq!(dead, ["b", "c", "f"], "{name}: newest dead letter first");
        }
    }
}

#[tokio::test]
async fn concurrent_claimers_never_get_the_same_job() {
    for db in databases().await {
        let name = db.name;
        const JOBS: usize = 300;
        let queue = db.queue(5);
        for i in 0..JOBS {
            queue
                .enqueue(job("contended", &format!("job-{i}")).priority(priority((i % 10) as u8)))
                .await
                .expect("enqueue");
        }
        // Each claimer has its own connection pool, as a separate process would.
        let mut claimers = Vec::new();
        for _ in 0..6 {
            let queue = SqlJobQueue::new(db.second_store().await, 5);
            claimers.push(tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let batch = queue.claim(4, LONG_LEASE).await.expect("claim");
                    if batch.is_empty() {
                        if queue.counts().await.expect("counts").queued == 0 {
                            return got;
                        }
                        continue;
                    }
                    for delivery in batch {
                        assert!(queue.ack(&delivery.receipt).await.expect("ack"));
                        got.push(delivery.job.id);
                    }
                }
            }));
        }
        let mut all = Vec::new();
        let mut busy = 0;
        for claimer in claimers {
            let got = claimer.await.expect("claimer");
            busy += usize::from(!got.is_empty());
            all.extend(got);
        }
        let distinct: HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), JOBS, "{name}: every job claimed once in total");
        assert_eq!(distinct.len(), JOBS, "{name}: no job claimed twice");
        assert!(busy > 1, "{name}: the claimers really competed");
        assert_eq!(
            queue.counts().await.expect("counts").done,
            JOBS as u64,
            "{name}"
        );
    }
}

#[tokio::test]
async fn purging_removes_only_jobs_finished_before_the_cutoff_and_frees_their_keys() {
    for db in databases().await {
        let (name, queue) = (db.name, db.queue(1));
        for key in ["done-1", "done-2", "dead", "waiting"] {
            queue.enqueue(job("purge", key)).await.expect("enqueue");
        }
        let mut claimed = queue.claim(3, LONG_LEASE).await.expect("claim");
        claimed.sort_by(|a, b| a.job.idempotency_key.cmp(&b.job.idempotency_key));
        // `dead`, `done-1`, `done-2` (alphabetical); `waiting` stays queued.
        assert!(
            queue
                .retry(&claimed[0].receipt, Duration::ZERO, "x")
                .await
                .expect("retry")
                == Retried::DeadLettered
        );
        assert!(queue.ack(&claimed[1].receipt).await.expect("ack"));
        assert!(queue.ack(&claimed[2].receipt).await.expect("ack"));

        let long_ago = mcp_platform::domain::now() - chrono::Duration::hours(1);
        assert_eq!(
            queue.purge_finished(long_ago).await.expect("purge"),
            0,
            "{name}: nothing that old"
        );
        let later = mcp_platform::domain::now() + chrono::Duration::seconds(1);
        assert_eq!(
            queue.purge_finished(later).await.expect("purge"),
            3,
            "{name}: done and dead go"
        );
        let counts = queue.counts().await.expect("counts");
        assert_eq!(
            (counts.queued, counts.done, counts.dead),
            (1, 0, 0),
            "{name}: {counts:?}"
        );
        assert!(
            queue
                .enqueue(job("purge", "done-1"))
                .await
                .expect("again")
                .created,
            "{name}: a purged job's key can be used again"
        );
        assert!(
            !queue
                .enqueue(job("purge", "waiting"))
                .await
                .expect("again")
                .created,
            "{name}: a waiting job keeps its key"
        );
    }
}

// ------------------------------------------------------------ the worker

/// Records its effect once per idempotency key in `test_effects`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {}

async fn create_effects_table(store: &SqlStore) {
    sqlx::query(
        "CREATE TABLE test_effects (idempotency_key VARCHAR(255) NOT NULL PRIMARY KEY, \
         job_id CHAR(36) NOT NULL)",
    )
    .execute(store.pool())
    .await
    .expect("create test_effects");
}

async fn record_effect(ctx: &JobContext<'_>) -> Result<(), JobError> {
    let done = sqlx::query("INSERT INTO test_effects (idempotency_key, job_id) VALUES (?, ?)")
        .bind(&ctx.job.idempotency_key)
        .bind(ctx.job.id.to_string())
        .execute(ctx.state.sql.pool())
        .await;
    match done {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(()),
        Err(e) => Err(JobError::Retryable(e.to_string())),
    }
}

#[async_trait]
impl Job for Record {
    const KIND: &'static str = "test_record";
    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        record_effect(ctx).await
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Poison {}

#[async_trait]
impl Job for Poison {
    const KIND: &'static str = "test_poison";
    const PRIORITY: Priority = Priority::HIGHEST;
    async fn run(self, _ctx: &JobContext<'_>) -> Result<(), JobError> {
        Err(JobError::Retryable("this job always fails".into()))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Panicky {}

#[async_trait]
impl Job for Panicky {
    const KIND: &'static str = "test_panicky";
    const PRIORITY: Priority = Priority::HIGHEST;
    async fn run(self, _ctx: &JobContext<'_>) -> Result<(), JobError> {
        panic!("this job always panics")
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Undecodable {
    #[allow(dead_code)]
    required: u64,
}

#[async_trait]
impl Job for Undecodable {
    const KIND: &'static str = "test_undecodable";
    async fn run(self, _ctx: &JobContext<'_>) -> Result<(), JobError> {
        Ok(())
    }
}

/// Writes `test_effects` when it starts, then takes `millis` before it
/// records its effect under its own key.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Slow {
    millis: u64,
}

#[async_trait]
impl Job for Slow {
    const KIND: &'static str = "test_slow";
    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        sqlx::query("INSERT INTO test_effects (idempotency_key, job_id) VALUES (?, ?)")
            .bind(format!("started:{}", ctx.job.idempotency_key))
            .bind(ctx.job.id.to_string())
            .execute(ctx.state.sql.pool())
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?;
        tokio::time::sleep(Duration::from_millis(self.millis)).await;
        record_effect(ctx).await
    }
}

async fn effects(store: &SqlStore, key_prefix: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM test_effects WHERE idempotency_key LIKE ?")
        .bind(format!("{key_prefix}%"))
        .fetch_one(store.pool())
        .await
        .expect("count effects")
}

/// The app's queue for the worker tests: the embedded SQL one, or a broker.
async fn app_on(
    transport: &str,
    extra: &[(&str, &str)],
) -> (
    mcp_platform_tests::TestApp,
    Option<RabbitQueue>,
    Option<SqsQueue>,
) {
    let mut vars: Vec<(String, String)> = [
        ("JOB_MAX_ATTEMPTS", "3"),
        ("JOB_BACKOFF_BASE_MS", "5"),
        ("WORKER_POLL_INTERVAL_MS", "5"),
        ("WORKER_CONCURRENCY", "4"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let (mut rabbit, mut sqs) = (None, None);
    match transport {
        "rabbitmq" => {
            let q = RabbitQueue::new().await;
            vars.extend(q.vars());
            rabbit = Some(q);
        }
        "sqs" => {
            let q = SqsQueue::new().await;
            vars.extend(q.vars());
            sqs = Some(q);
        }
        _ => {}
    }
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    (mcp_platform_tests::spawn_app_with(&vars).await, rabbit, sqs)
}

#[tokio::test]
async fn a_poison_job_ends_dead_lettered_while_other_jobs_keep_flowing() {
    for transport in ["sql", "rabbitmq", "sqs"] {
        poison_job_on(transport).await;
    }
}

async fn poison_job_on(transport: &str) {
    let (app, _rabbit, _sqs) = app_on(transport, &[]).await;
    assert_eq!(app.state.settings.jobs.queue.name(), transport);
    let health = app.get("/health", None).await;
    assert_eq!(health.body["queue"], transport, "/health names the queue");
    assert_eq!(
        health.body["checks"]["queue"], true,
        "{transport}: {health:?}"
    );
    let state = app.state.clone();
    create_effects_table(&state.sql).await;
    let queue = state.jobs.clone();
    let poison = queue
        .enqueue(
            NewJob::of(&Poison {})
                .expect("job")
                .idempotency_key("poison"),
        )
        .await
        .expect("enqueue");
    let panicky = queue
        .enqueue(
            NewJob::of(&Panicky {})
                .expect("job")
                .idempotency_key("panicky"),
        )
        .await
        .expect("enqueue");
    let undecodable = queue
        .enqueue(NewJob::raw(
            Undecodable::KIND,
            json!({"required": "not a number"}),
        ))
        .await
        .expect("enqueue");
    let unknown = queue
        .enqueue(NewJob::raw("no_such_kind", json!({})))
        .await
        .expect("enqueue");
    for i in 0..40 {
        queue
            .enqueue(
                NewJob::of(&Record {})
                    .expect("job")
                    .idempotency_key(format!("good-{i}")),
            )
            .await
            .expect("enqueue");
    }

    let registry = Registry::standard()
        .with::<Record>()
        .with::<Poison>()
        .with::<Panicky>()
        .with::<Undecodable>();
    let worker = Worker::new(state.clone(), registry);
    let stop = Stop::new();
    let running = tokio::spawn({
        let signal = stop.signal();
        async move { worker.run(signal).await }
    });
    let counts = eventually(
        "the good jobs are done and the bad ones dead",
        Duration::from_secs(30),
        || async {
            let counts = queue.counts().await.expect("counts");
            // Nothing pending is not enough: a broker's dead-lettering is
            // asynchronous, so a rejected job can be in neither queue for a
            // moment. Wait until all 44 jobs are settled one way or the other.
            (counts.pending() == 0 && counts.done + counts.dead >= 44).then_some(counts)
        },
    )
    .await;
    stop.stop();
    let report = running.await.expect("worker task");

    assert_eq!(
        counts.done, 40,
        "{transport}: every good job completed: {counts:?}"
    );
    assert_eq!(
        (report.completed, report.dead_lettered, report.retried),
        (40, 4, 6),
        "{transport}: the worker's own account: {report:?}"
    );
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains("mcp_jobs{status=\"dead\"} 4"),
        "{transport}: /metrics counts jobs by status"
    );
    assert_eq!(
        counts.dead, 4,
        "the four bad jobs are dead letters: {counts:?}"
    );
    assert_eq!(
        effects(&state.sql, "good-").await,
        40,
        "each good effect stored"
    );
    if transport != "sql" {
        return;
    }
    let inspect = SqlJobQueue::new(state.sql.as_ref().clone(), 3);
    let record = |id| {
        let inspect = inspect.clone();
        async move { inspect.job(id).await.expect("read").expect("stored") }
    };
    let poison = record(poison.id).await;
    assert_eq!(poison.attempts, 3, "the poison job had its three attempts");
    assert_eq!(poison.last_error.as_deref(), Some("this job always fails"));
    let panicky = record(panicky.id).await;
    assert_eq!(panicky.attempts, 3, "a panic is retried like an error");
    assert!(
        panicky
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("this job always panics")),
        "{:?}",
        panicky.last_error
    );
    let undecodable = record(undecodable.id).await;
    assert_eq!(
        undecodable.attempts, 1,
        "a payload that does not decode is not retried"
    );
    assert!(
        undecodable
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("does not decode")),
        "{:?}",
        undecodable.last_error
    );
    let unknown = record(unknown.id).await;
    assert_eq!(
        unknown.attempts, 3,
        "an unknown kind is retried, for a newer worker"
    );
}

#[tokio::test]
async fn shutdown_lets_the_jobs_in_flight_finish_and_ack() {
    let app = mcp_platform_tests::spawn_app_with(&[("WORKER_POLL_INTERVAL_MS", "5")]).await;
    let state = app.state.clone();
    create_effects_table(&state.sql).await;
    state
        .jobs
        .enqueue(
            NewJob::of(&Slow { millis: 300 })
                .expect("job")
                .idempotency_key("slow"),
        )
        .await
        .expect("enqueue");
    let worker = Worker::new(state.clone(), Registry::standard().with::<Slow>());
    let stop = Stop::new();
    let running = tokio::spawn({
        let signal = stop.signal();
        async move { worker.run(signal).await }
    });
    eventually("the slow job starts", Duration::from_secs(10), || async {
        (effects(&state.sql, "started:slow").await == 1).then_some(())
    })
    .await;
    stop.stop();
    let report = running.await.expect("worker task");
    assert_eq!(
        report.completed, 1,
        "the job in flight finished: {report:?}"
    );
    assert_eq!(effects(&state.sql, "slow").await, 1, "its effect is stored");
    let counts = state.jobs.counts().await.expect("counts");
    assert_eq!(
        (counts.done, counts.pending()),
        (1, 0),
        "and acked: {counts:?}"
    );
}

#[tokio::test]
async fn a_job_still_running_when_the_grace_period_ends_is_left_to_its_lease() {
    let app = mcp_platform_tests::spawn_app_with(&[]).await;
    let state = app.state.clone();
    create_effects_table(&state.sql).await;
    state
        .jobs
        .enqueue(
            NewJob::of(&Slow { millis: 60_000 })
                .expect("job")
                .idempotency_key("stuck"),
        )
        .await
        .expect("enqueue");
    let options = WorkerOptions {
        concurrency: 1,
        lease: Duration::from_secs(120),
        poll_interval: Duration::from_millis(5),
        backoff_base: Duration::from_millis(5),
        shutdown_grace: Duration::from_millis(50),
    };
    let worker = Worker::with_options(state.clone(), Registry::standard().with::<Slow>(), options);
    let stop = Stop::new();
    let running = tokio::spawn({
        let signal = stop.signal();
        async move { worker.run(signal).await }
    });
    eventually("the slow job starts", Duration::from_secs(10), || async {
        (effects(&state.sql, "started:stuck").await == 1).then_some(())
    })
    .await;
    stop.stop();
    let report = running.await.expect("worker task");
    assert_eq!(report.abandoned, 1, "{report:?}");
    let counts = state.jobs.counts().await.expect("counts");
    assert_eq!(
        (counts.running, counts.done),
        (1, 0),
        "not acked: it stays leased until the lease runs out: {counts:?}"
    );
}

// ------------------------------------------------------------ the scheduler

#[tokio::test]
async fn two_schedulers_ticking_concurrently_enqueue_each_periodic_job_once_per_period() {
    for s in subjects(5).await {
        let (name, db) = (s.name, &s.db);
        // Two schedulers, each with its own connection, as two replicas have.
        let a = Scheduler::new(s.queue.clone(), standard_schedule());
        let b = Scheduler::new(s.open().await, standard_schedule());
        let start: DateTime<Utc> = "2026-11-25T22:58:07Z".parse().expect("time");
        let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut created: BTreeMap<&str, usize> = BTreeMap::new();
        // Three and a half hours in 23-second steps; b's clock runs 4 s ahead.
        for step in 0..550i64 {
            let now_a = start + chrono::Duration::seconds(23 * step);
            let now_b = now_a + chrono::Duration::seconds(4);
            for periodic in a.schedule() {
                let keys = expected.entry(periodic.kind()).or_default();
                keys.insert(periodic.key(now_a));
                keys.insert(periodic.key(now_b));
            }
            let (ra, rb) = tokio::join!(a.tick(now_a), b.tick(now_b));
            for report in [ra, rb] {
                assert!(
                    report.failed.is_empty(),
                    "{name}: no tick fails: {report:?}"
                );
                for kind in report.enqueued {
                    *created.entry(kind).or_default() += 1;
                }
            }
        }
        // What the queue holds: every job, by kind, read back.
        let total: usize = expected.values().map(BTreeSet::len).sum();
        let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if s.sql.is_some() {
            for row in sqlx::query("SELECT kind, idempotency_key FROM jobs")
                .fetch_all(db.store.pool())
                .await
                .expect("read jobs")
            {
                held.entry(mcp_platform_tests::backends::text_column(&row, "kind"))
                    .or_default()
                    .push(mcp_platform_tests::backends::text_column(
                        &row,
                        "idempotency_key",
                    ));
            }
        } else {
            // Acked as they come: a broker hands out no more than its prefetch unacked.
            let mut got = 0;
            while got < total {
                for delivery in s.claim_n(1, LONG_LEASE).await {
                    held.entry(delivery.job.kind.clone())
                        .or_default()
                        .push(delivery.job.idempotency_key.clone());
                    assert!(s.queue.ack(&delivery.receipt).await.expect("ack"));
                    got += 1;
                }
            }
            assert!(
                s.queue
                    .claim(10, LONG_LEASE)
                    .await
                    .expect("claim")
                    .is_empty(),
                "{name}: no message beyond one per period"
            );
        }
        for (kind, keys) in &expected {
            let mut stored = held.remove(*kind).unwrap_or_default();
            stored.sort();
            let keys: Vec<String> = keys.iter().cloned().collect();
            assert_eq!(
                stored, keys,
                "{name}: {kind}: one job for every period, no other"
            );
            assert_eq!(
                created.get(kind).copied().unwrap_or(0),
                keys.len(),
                "{name}: {kind}: the ticks created one job per period between them"
            );
        }
        assert_eq!(
            expected["deliver_history"].len(),
            211,
            "{name}: minutes covered"
        );
        assert_eq!(
            expected["purge_expired_sessions"].len(),
            5,
            "{name}: hours covered"
        );
    }
}

// ------------------------------------------------------------ processes

/// A process of ours on `db`, in a clean environment: no inherited
/// database or service URLs, no `.env` (the working directory is the
/// test's own), one fixed signing secret so processes never race to make one.
fn process(program: &Path, args: &[&str], db: &Db, vars: &[(&str, &str)]) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(&db.dir.0)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("MCP_DATA_DIR", &db.dir.0)
        .env("SECRET_KEY", "queue-test-secret-0123456789abcdef0123456789")
        .env("LOG_LEVEL", "warn")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()))
}

/// SIGTERM, then the exit status: graceful shutdown must end in success.
async fn terminate(child: &mut tokio::process::Child, what: &str) {
    let pid = child
        .id()
        .unwrap_or_else(|| panic!("{what} is still running"));
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("run kill");
    assert!(sent.success(), "SIGTERM sent to {what}");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap_or_else(|_| panic!("{what} did not stop within 30 s of SIGTERM"))
        .expect("wait");
    assert!(
        status.success(),
        "{what} exits cleanly on SIGTERM: {status}"
    );
}

#[tokio::test]
async fn the_scheduler_and_worker_commands_purge_expired_sessions_end_to_end() {
    let binary = platform_binary();
    for db in databases().await {
        let name = db.name;
        let user = mcp_platform::domain::User {
            id: Uuid::new_v4(),
            username: "sessions".into(),
            email: "sessions@example.com".into(),
            password_hash: "unused".into(),
            role: mcp_platform::domain::Role::Developer,
            is_active: true,
            created_at: mcp_platform::domain::now(),
            updated_at: mcp_platform::domain::now(),
        };
        db.store.create(&user).await.expect("user");
        let now = mcp_platform::domain::now();
        for (hash, expires) in [
            ("a".repeat(64), now - chrono::Duration::hours(1)),
            ("b".repeat(64), now - chrono::Duration::seconds(1)),
            ("c".repeat(64), now + chrono::Duration::days(7)),
        ] {
            db.store
                .issue(&hash, Uuid::new_v4(), user.id, expires)
                .await
                .expect("refresh token");
        }

        let mut scheduler = process(
            &binary,
            &["scheduler"],
            &db,
            &[("SCHEDULER_TICK_SECONDS", "1")],
        );
        let mut worker = process(
            &binary,
            &["worker"],
            &db,
            &[("WORKER_POLL_INTERVAL_MS", "10")],
        );
        let periodic: BTreeSet<String> = standard_schedule()
            .iter()
            .map(|job| job.kind().to_string())
            .collect();
        // Wait on the set of finished kinds, not a count: a short-period job
        // can finish twice before a slow one finishes once.
        let finished_kinds = || async {
            sqlx::query("SELECT DISTINCT kind FROM jobs WHERE status = 'done'")
                .fetch_all(db.store.pool())
                .await
                .expect("jobs")
                .iter()
                .map(|row| mcp_platform_tests::backends::text_column(row, "kind"))
                .collect::<BTreeSet<String>>()
        };
        eventually(
            "exactly the standard periodic jobs ran and the expired tokens are gone",
            Duration::from_secs(60),
            || async {
                let tokens = db.count("SELECT COUNT(*) FROM refresh_tokens").await;
                (finished_kinds().await == periodic && tokens == 1).then_some(())
            },
        )
        .await;
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = '{}'",
                "c".repeat(64)
            ))
            .await,
            1,
            "{name}: the live token stays"
        );
        terminate(&mut scheduler, "mcp-platform scheduler").await;
        terminate(&mut worker, "mcp-platform worker").await;
    }
}

#[tokio::test]
async fn serve_runs_the_scheduler_and_a_worker_in_process() {
    let binary = platform_binary();
    let db = Db::sqlite().await;
    let mut serve = process(
        &binary,
        &["serve", "--bind", "127.0.0.1:0"],
        &db,
        &[
            ("SCHEDULER_TICK_SECONDS", "1"),
            ("WORKER_POLL_INTERVAL_MS", "10"),
        ],
    );
    let queue = db.queue(5);
    eventually(
        "serve enqueued and ran the periodic jobs",
        Duration::from_secs(60),
        || async { (queue.counts().await.expect("counts").done >= 3).then_some(()) },
    )
    .await;
    terminate(&mut serve, "mcp-platform serve").await;
}

// ------------------------------------------------------------ the crash test

async fn create_ledger(db: &Db) {
    for ddl in [
        "CREATE TABLE test_ledger (idempotency_key VARCHAR(255) NOT NULL PRIMARY KEY, job_id CHAR(36) NOT NULL)",
        "CREATE TABLE test_ledger_total (id BIGINT NOT NULL PRIMARY KEY, n BIGINT NOT NULL)",
        "CREATE TABLE test_ledger_runs (job_id CHAR(36) NOT NULL, attempt BIGINT NOT NULL)",
        "INSERT INTO test_ledger_total (id, n) VALUES (1, 0)",
    ] {
        sqlx::query(ddl)
            .execute(db.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{}: {ddl}: {e}", db.name));
    }
}

/// SIGKILLs a worker process mid-job again and again while jobs keep being
/// enqueued (some twice), then lets a last worker drain the queue. Every job
/// must have its effect exactly once: none lost to a kill, none doubled by
/// the redelivery that follows.
#[tokio::test]
async fn a_worker_killed_mid_job_again_and_again_loses_nothing_and_doubles_nothing() {
    const KILLS: usize = 24;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_ledger-worker"));
    for s in subjects(1000).await {
        let (name, db, queue) = (s.name, &s.db, s.queue.clone());
        create_ledger(db).await;
        let mut keys = BTreeSet::new();
        let mut enqueue_more = |count: usize| {
            let start = keys.len();
            let new: Vec<String> = (start..start + count)
                .map(|i| format!("ledger-{i}"))
                .collect();
            keys.extend(new.iter().cloned());
            new
        };
        for key in enqueue_more(120) {
            assert!(
                queue
                    .enqueue(job("test_ledger", &key))
                    .await
                    .expect("enqueue")
                    .created
            );
        }
        let mut vars: Vec<(String, String)> = [
            ("WORKER_CONCURRENCY", "4"),
            ("WORKER_POLL_INTERVAL_MS", "5"),
            // SQS hides a killed worker's jobs for the whole lease.
            (
                "JOB_LEASE_SECONDS",
                if s.tick >= Duration::from_secs(1) {
                    "1"
                } else {
                    "2"
                },
            ),
            ("JOB_BACKOFF_BASE_MS", "5"),
            // Kills spend attempts; none of these jobs may die of it.
            ("JOB_MAX_ATTEMPTS", "1000"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        vars.extend(s.vars());
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let runs = || db.count("SELECT COUNT(*) FROM test_ledger_runs");
        for kill in 0..KILLS {
            let before = runs().await;
            let mut worker = process(&binary, &[], db, &vars);
            // Kill at a different depth each time: after 1 to 5 new runs began.
            let target = before + 1 + (kill % 5) as i64;
            let deadline = Instant::now() + Duration::from_secs(60);
            while runs().await < target {
                if let Ok(Some(status)) = worker.try_wait() {
                    panic!("{name}: the worker exited by itself: {status}");
                }
                assert!(
                    Instant::now() < deadline,
                    "{name}: timed out waiting for the worker to start jobs"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            worker.start_kill().expect("SIGKILL");
            let status = worker.wait().await.expect("wait");
            assert!(!status.success(), "{name}: killed, not finished: {status}");

            // Jobs keep flowing: new ones, and an old key enqueued again.
            for key in enqueue_more(8) {
                assert!(
                    queue
                        .enqueue(job("test_ledger", &key))
                        .await
                        .expect("enqueue")
                        .created
                );
            }
            let old = format!("ledger-{}", kill * 3);
            assert!(
                !queue
                    .enqueue(job("test_ledger", &old))
                    .await
                    .expect("re-enqueue")
                    .created,
                "{name}: {old} is not enqueued twice"
            );
        }

        let jobs = keys.len() as i64;
        let mut last = process(&binary, &[], db, &vars);
        let counts = eventually(
            "the last worker drains the queue",
            Duration::from_secs(120),
            || async {
                let counts = queue.counts().await.expect("counts");
                let recorded = db.count("SELECT COUNT(*) FROM test_ledger").await;
                // A broker reports only what this process holds as running.
                let drained = counts.pending() == 0 && (s.sql.is_some() || recorded == jobs);
                drained.then_some(counts)
            },
        )
        .await;
        terminate(&mut last, "ledger-worker").await;

        assert_eq!(counts.dead, 0, "{name}: no job died: {counts:?}");
        if s.sql.is_some() {
            assert_eq!(
                counts.done, jobs as u64,
                "{name}: every job is done: {counts:?}"
            );
        }
        let ledger: BTreeSet<String> = sqlx::query("SELECT idempotency_key FROM test_ledger")
            .fetch_all(db.store.pool())
            .await
            .expect("ledger")
            .iter()
            .map(|row| mcp_platform_tests::backends::text_column(row, "idempotency_key"))
            .collect();
        assert_eq!(
            ledger, keys,
            "{name}: every enqueued key has its ledger entry, no other"
        );
        assert_eq!(
            db.count("SELECT n FROM test_ledger_total WHERE id = 1")
                .await,
            jobs,
            "{name}: the effect happened exactly once per job"
        );
        let total_runs = runs().await;
        let rerun = db
            .count("SELECT COUNT(*) FROM test_ledger_runs WHERE attempt > 1")
            .await;
        assert!(
            total_runs > jobs && rerun > 0,
            "{name}: the kills landed mid-job ({total_runs} runs, {rerun} redeliveries, for {jobs} jobs)"
        );
        eprintln!("{name}: {KILLS} kills, {jobs} jobs, {total_runs} runs, {rerun} redeliveries");
    }
}

// ------------------------------------------------------------ throughput

#[derive(Debug, Default, Serialize, Deserialize)]
struct NoOp {}

#[async_trait]
impl Job for NoOp {
    const KIND: &'static str = "test_noop";
    async fn run(self, _ctx: &JobContext<'_>) -> Result<(), JobError> {
        Ok(())
    }
}

/// A measurement, not a check (bench/jobs.sh runs it): `cargo test --release
/// -p mcp-platform-tests --test suite -- --ignored --nocapture no_op`.
/// `MCP_BENCH_QUEUES` picks the queues (default `sql,rabbitmq,sqs`),
/// `MCP_BENCH_JOBS` the number of jobs (default 5000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run it on purpose"]
async fn no_op_job_throughput() {
    let jobs: u64 = std::env::var("MCP_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let queues = std::env::var("MCP_BENCH_QUEUES").unwrap_or_else(|_| "sql,rabbitmq,sqs".into());
    for transport in queues.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        no_op_throughput_on(transport, jobs).await;
    }
}

async fn no_op_throughput_on(transport: &str, jobs: u64) {
    let (app, _rabbit, _sqs) = app_on(
        transport,
        &[
            ("WORKER_CONCURRENCY", "16"),
            ("WORKER_POLL_INTERVAL_MS", "5"),
        ],
    )
    .await;
    let state = app.state.clone();
    let started = Instant::now();
    // Enqueuers in parallel, as request handlers are.
    let per_task = jobs.div_ceil(16);
    let mut enqueuers = tokio::task::JoinSet::new();
    for t in 0..16 {
        let queue = state.jobs.clone();
        enqueuers.spawn(async move {
            for _ in (t * per_task)..((t + 1) * per_task).min(jobs) {
                queue
                    .enqueue(NewJob::of(&NoOp {}).expect("job"))
                    .await
                    .expect("enqueue");
            }
        });
    }
    while let Some(done) = enqueuers.join_next().await {
        done.expect("enqueuer");
    }
    let enqueue = started.elapsed();
    let worker = Worker::new(state.clone(), Registry::standard().with::<NoOp>());
    let stop = Stop::new();
    let started = Instant::now();
    let running = tokio::spawn({
        let signal = stop.signal();
        async move { worker.run(signal).await }
    });
    eventually(
        "the worker drains the queue",
        Duration::from_secs(600),
        || async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            (state.jobs.counts().await.expect("counts").done >= jobs).then_some(())
        },
    )
    .await;
    let drain = started.elapsed();
    stop.stop();
    running.await.expect("worker");
    eprintln!(
        "{transport}: {jobs} no-op jobs: enqueue {:.0} jobs/s ({enqueue:?}), claim+run+ack {:.0} jobs/s ({drain:?})",
        jobs as f64 / enqueue.as_secs_f64(),
        jobs as f64 / drain.as_secs_f64(),
    );
}
