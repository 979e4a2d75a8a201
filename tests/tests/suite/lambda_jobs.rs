//! The `job-worker` and `cron-scheduler` Lambda functions' logic.
//!
//! - `handle_sqs_batch` over SQS events in the documented event shape
//!   (deserialised as the Lambda runtime does): good, failing, permanently
//!   failing, panicking and malformed records in one batch → exactly the bad
//!   ones are reported in `batchItemFailures`, and every good one's effect is
//!   stored; records run concurrently, never more than the configured bound.
//! - `handle_schedule`: several instances receiving the same EventBridge
//!   scheduled events concurrently (and some events twice) over many periods
//!   → each periodic job enqueued exactly once per period, on SQLite and on
//!   MySQL when `MCP_TEST_MYSQL_URL` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use mcp_platform::adapters::sql::{SqlJobQueue, SqlStore};
use mcp_platform::jobs::{Job, JobContext, JobEnvelope, JobError, Priority, Registry};
use mcp_platform::lambda::{handle_schedule, handle_sqs_batch};
use mcp_platform::scheduler::{standard_schedule, Scheduler};
use mcp_platform::worker::{Worker, WorkerOptions};
use mcp_platform_tests::backends::{self, MysqlDatabase};
use mcp_platform_tests::spawn_app;
use mcp_platform_tests::tempdir::TempDir;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

// ------------------------------------------------------------ job kinds

/// Effects of the good jobs: `tag@attempt`, as the handler saw them.
fn effects() -> &'static Mutex<BTreeSet<String>> {
    static EFFECTS: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    EFFECTS.get_or_init(Default::default)
}

fn recorded(tag: &str) -> Vec<String> {
    effects()
        .lock()
        .expect("effects")
        .iter()
        .filter(|e| e.split('@').next() == Some(tag))
        .cloned()
        .collect()
}

#[derive(Serialize, Deserialize)]
struct Good {
    tag: String,
}

#[async_trait]
impl Job for Good {
    const KIND: &'static str = "lambda_test_good";
    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        effects()
            .lock()
            .expect("effects")
            .insert(format!("{}@{}", self.tag, ctx.job.attempt));
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Flaky {}

#[async_trait]
impl Job for Flaky {
    const KIND: &'static str = "lambda_test_flaky";
    async fn run(self, _ctx: &JobContext<'_>) -> Result<(), JobError> {
        Err(JobError::Retryable("the backend is down".into()))
    }
}

#[derive(Serialize, Deserialize)]
struct Doomed {}

#[async_trait]
impl Job for Doomed {
    const KIND: &'static str = "lambda_test_doomed";
    async fn run(self, _ctx: &JobContext<'_>) -> Result<(), JobError> {
        Err(JobError::Permanent("the resource is gone".into()))
    }
}

#[derive(Serialize, Deserialize)]
struct Panicky {}

#[async_trait]
impl Job for Panicky {
    const KIND: &'static str = "lambda_test_panicky";
    async fn run(self, _ctx: &JobContext<'_>) -> Result<(), JobError> {
        panic!("a handler bug");
    }
}

/// Counts how many of its kind run at once, and waits until `together` of
/// them do (or a deadline passes): only concurrent records can all finish.
#[derive(Serialize, Deserialize)]
struct Gather {
    together: usize,
}

static GATHERED: AtomicUsize = AtomicUsize::new(0);
static GATHERED_MAX: AtomicUsize = AtomicUsize::new(0);
/// Woken whenever another record joins.
static ALL_GATHERED: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[async_trait]
impl Job for Gather {
    const KIND: &'static str = "lambda_test_gather";
    async fn run(self, _ctx: &JobContext<'_>) -> Result<(), JobError> {
        let now = GATHERED.fetch_add(1, Ordering::SeqCst) + 1;
        GATHERED_MAX.fetch_max(now, Ordering::SeqCst);
        ALL_GATHERED.notify_waiters();
        let met = async {
            loop {
                // Made before the check: a notification between the check
                // and the wait still wakes it.
                let gathered = ALL_GATHERED.notified();
                if GATHERED_MAX.load(Ordering::SeqCst) >= self.together {
                    break;
                }
                gathered.await;
            }
        };
        let outcome = tokio::time::timeout(Duration::from_secs(10), met).await;
        GATHERED.fetch_sub(1, Ordering::SeqCst);
        outcome.map_err(|_| JobError::Retryable("ran alone".into()))
    }
}

fn registry() -> Registry {
    Registry::empty()
        .with::<Good>()
        .with::<Flaky>()
        .with::<Doomed>()
        .with::<Panicky>()
        .with::<Gather>()
}

async fn worker(concurrency: usize) -> (mcp_platform_tests::TestApp, Worker) {
    let app = spawn_app().await;
    let worker = Worker::with_options(
        app.state.clone(),
        registry(),
        WorkerOptions {
            concurrency,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(10),
            backoff_base: Duration::from_millis(10),
            shutdown_grace: Duration::from_secs(1),
        },
    );
    (app, worker)
}

// ------------------------------------------------------------ SQS events

fn envelope(kind: &str, payload: Value) -> String {
    serde_json::to_string(&JobEnvelope {
        id: Uuid::new_v4(),
        kind: kind.to_owned(),
        payload,
        attempt: 1,
        idempotency_key: Uuid::new_v4().to_string(),
        priority: Priority::DEFAULT,
        enqueued_at: Utc::now(),
    })
    .expect("envelope JSON")
}

/// An SQS record in the shape AWS documents for Lambda event sources.
fn record(message_id: &str, body: Option<String>, receive_count: u32) -> Value {
    let mut record = json!({
        "messageId": message_id,
        "receiptHandle": format!("AQEB{message_id}"),
        "attributes": {
            "ApproximateReceiveCount": receive_count.to_string(),
            "SentTimestamp": "1764100000000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1764100000001"
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:mcp-platform-jobs",
        "awsRegion": "us-east-1"
    });
    if let Some(body) = body {
        record["body"] = Value::String(body);
    }
    record
}

fn event(records: Vec<Value>) -> SqsEvent {
    serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn a_batch_reports_exactly_its_failed_and_panicking_records() {
    let (_app, worker) = worker(4).await;
    let run = Uuid::new_v4().simple().to_string();
    let good = |n: u32| {
        Some(envelope(
            Good::KIND,
            json!({ "tag": format!("{run}-good{n}") }),
        ))
    };
    let batch = event(vec![
        record("m-good-1", good(1), 1),
        record("m-flaky", Some(envelope(Flaky::KIND, json!({}))), 2),
        record("m-good-2", good(2), 3),
        record("m-panic", Some(envelope(Panicky::KIND, json!({}))), 1),
        record("m-doomed", Some(envelope(Doomed::KIND, json!({}))), 1),
        record(
            "m-unknown-kind",
            Some(envelope("lambda_test_nobody_knows", json!({}))),
            1,
        ),
        record("m-not-json", Some("{\"kind\": ".into()), 1),
        record("m-no-body", None, 1),
        record(
            "m-bad-payload",
            Some(envelope(Good::KIND, json!({ "tag": 42 }))),
            1,
        ),
        record("m-good-3", good(3), 1),
    ]);
    let response = handle_sqs_batch(&worker, batch).await;
    assert_eq!(
        failed_ids(&response),
        [
            "m-flaky",
            "m-panic",
            "m-doomed",
            "m-unknown-kind",
            "m-not-json",
            "m-no-body",
            "m-bad-payload"
        ],
        "exactly the bad records, in the batch's order"
    );
    // The attempt is the record's receive count, not the envelope's field.
    for (n, attempt) in [(1, 1), (2, 3), (3, 1)] {
        assert_eq!(
            recorded(&format!("{run}-good{n}")),
            [format!("{run}-good{n}@{attempt}")],
            "the good record {n} ran once, with its receive count as the attempt"
        );
    }
    // What Lambda reads back: the ReportBatchItemFailures response shape.
    let wire = serde_json::to_value(&response).expect("response JSON");
    assert_eq!(
        wire["batchItemFailures"][0],
        json!({"itemIdentifier": "m-flaky"})
    );
    assert_eq!(
        wire["batchItemFailures"].as_array().map(Vec::len),
        Some(7),
        "{wire}"
    );
}

#[tokio::test]
async fn a_batch_of_good_records_reports_no_failure_and_a_panic_spares_its_neighbours() {
    let (_app, worker) = worker(2).await;
    let run = Uuid::new_v4().simple().to_string();
    let mut records = Vec::new();
    for n in 0..10 {
        records.push(record(
            &format!("ok-{n}"),
            Some(envelope(Good::KIND, json!({ "tag": format!("{run}-{n}") }))),
            1,
        ));
    }
    let response = handle_sqs_batch(&worker, event(records.clone())).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(
        serde_json::to_value(&response).expect("JSON"),
        json!({"batchItemFailures": []})
    );
    // The same records with panics between them: the panics only.
    let mut mixed = Vec::new();
    for (n, record) in records.into_iter().enumerate() {
        mixed.push(record);
        mixed.push(self::record(
            &format!("boom-{n}"),
            Some(envelope(Panicky::KIND, json!({}))),
            1,
        ));
    }
    let response = handle_sqs_batch(&worker, event(mixed)).await;
    let expected: Vec<String> = (0..10).map(|n| format!("boom-{n}")).collect();
    assert_eq!(failed_ids(&response), expected);
    for n in 0..10 {
        assert_eq!(
            recorded(&format!("{run}-{n}")),
            [format!("{run}-{n}@1")],
            "a redelivered good record does not add a second effect"
        );
    }
}

#[tokio::test]
async fn records_run_concurrently_up_to_the_bound_and_no_further() {
    let (_app, worker) = worker(4).await;
    let records = (0..12)
        .map(|n| {
            record(
                &format!("g-{n}"),
                Some(envelope(Gather::KIND, json!({ "together": 4 }))),
                1,
            )
        })
        .collect();
    let response = handle_sqs_batch(&worker, event(records)).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "four records ran together: {response:?}"
    );
    assert_eq!(
        GATHERED_MAX.load(Ordering::SeqCst),
        4,
        "never more than WORKER_CONCURRENCY records at once"
    );
}

// ------------------------------------------------------------ the scheduler

/// An EventBridge scheduled event as AWS documents it.
fn scheduled_event(at: DateTime<Utc>) -> EventBridgeEvent {
    serde_json::from_value(json!({
        "version": "0",
        "id": Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/mcp-platform-cron"],
        "detail": {}
    }))
    .expect("an EventBridge event")
}

async fn migrated(url: &str) -> SqlStore {
    let store = SqlStore::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    store
        .migrator()
        .run(store.pool())
        .await
        .unwrap_or_else(|e| panic!("migrate {url}: {e}"));
    store
}

/// Several cron-scheduler instances (each its own connection pool and
/// scheduler, as separate Lambda instances have) receive every scheduled
/// event at once, some events twice; afterwards the database holds one job
/// per periodic kind and period, and the invocations' reports created
/// exactly those between them.
async fn cron_instances_enqueue_once_per_period(name: &str, url: &str) {
    const INSTANCES: usize = 3;
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        instances.push(Scheduler::new(
            Arc::new(SqlJobQueue::new(migrated(url).await, 5)),
            standard_schedule(),
        ));
    }
    let check = migrated(url).await;
    let start: DateTime<Utc> = "2026-11-25T21:58:00Z".parse().expect("time");
    let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut created: BTreeMap<String, usize> = BTreeMap::new();
    // Every minute for two and a half hours (a `rate(1 minute)` schedule).
    for minute in 0..150i64 {
        let at = start + chrono::Duration::minutes(minute);
        for periodic in standard_schedule() {
            expected
                .entry(periodic.kind())
                .or_default()
                .insert(periodic.key(at));
        }
        let duplicate = minute % 7 == 0;
        let invocations = instances
            .iter()
            .chain(duplicate.then(|| &instances[0]))
            .map(|scheduler| handle_schedule(scheduler, scheduled_event(at)));
        for reply in futures::future::join_all(invocations).await {
            let reply = reply.unwrap_or_else(|e| panic!("{name}: the tick at {at} failed: {e}"));
            assert_eq!(reply["at"], json!(at), "{name}: ticked at the event's time");
            for kind in reply["enqueued"].as_array().expect("enqueued") {
                *created
                    .entry(kind.as_str().expect("kind").to_owned())
                    .or_default() += 1;
            }
        }
    }
    for (kind, keys) in &expected {
        let stored: Vec<String> = sqlx::query("SELECT idempotency_key FROM jobs WHERE kind = ?")
            .bind(*kind)
            .fetch_all(check.pool())
            .await
            .expect("read jobs")
            .iter()
            .map(|row| backends::text_column(row, "idempotency_key"))
            .collect();
        assert_eq!(
            stored.len(),
            keys.len(),
            "{name}: {kind}: one stored job per period"
        );
        assert_eq!(
            &stored.into_iter().collect::<BTreeSet<_>>(),
            keys,
            "{name}: {kind}: the jobs are those of the periods ticked"
        );
        assert_eq!(
            created.get(*kind).copied().unwrap_or(0),
            keys.len(),
            "{name}: {kind}: exactly one invocation created each period's job"
        );
    }
    assert_eq!(expected["deliver_history"].len(), 150, "{name}: minutes");
    assert_eq!(expected["purge_expired_sessions"].len(), 4, "{name}: hours");
}

#[tokio::test]
async fn cron_instances_receiving_the_same_events_enqueue_each_periodic_job_once_per_period() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("cron.db").display());
    cron_instances_enqueue_once_per_period("sqlite", &url).await;
    if let Some(server) = backends::mysql_url() {
        let db = MysqlDatabase::create(&server).await;
        cron_instances_enqueue_once_per_period("mysql", &db.url).await;
    }
}

#[tokio::test]
async fn a_scheduled_event_without_a_time_ticks_at_the_current_period() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("cron.db").display());
    let scheduler = Scheduler::new(
        Arc::new(SqlJobQueue::new(migrated(&url).await, 5)),
        standard_schedule(),
    );
    let mut event = scheduled_event(Utc::now());
    event.time = None;
    let before = Utc::now();
    let reply = handle_schedule(&scheduler, event).await.expect("the tick");
    let at: DateTime<Utc> = serde_json::from_value(reply["at"].clone()).expect("at");
    assert!(at >= before && at <= Utc::now(), "{reply}");
    let mut enqueued: Vec<&str> = reply["enqueued"]
        .as_array()
        .expect("enqueued")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    enqueued.sort_unstable();
    assert_eq!(
        enqueued,
        [
            "deliver_history",
            "expire_task_results",
            "purge_expired_sessions",
            "purge_finished_jobs",
            "sync_knowledge"
        ]
    );
}
