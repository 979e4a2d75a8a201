//! `bench/realtime.sh`: enqueue → completed → WebSocket-delivered latency at
//! a steady job rate (default 500 jobs/s).
//!
//! The platform runs in-process as the test harness spawns it (embedded
//! defaults: SQLite queue and task store, in-process event bus; or Redis and
//! MySQL when the usual variables are given). A worker runs a no-op task
//! job (`bench_noop`: running → completed through the task reporter, i.e.
//! two stored and published changes). Every task record is created up front
//! and subscribed to over real WebSockets (256 per connection), so no
//! subscription races its job; then the jobs are enqueued at the steady
//! rate and each latency runs from just before its enqueue to the arrival of
//! its `completed` update at the client.
//!
//! Knobs: BENCH_RATE (jobs/s, 500), BENCH_JOBS (5000), BENCH_CONCURRENCY
//! (worker slots, 16), BENCH_POLL_MS (idle worker poll, 1).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use mcp_platform::domain::{Task, TaskStatus};
use mcp_platform::jobs::{Job, JobContext, JobError, NewJob, Registry};
use mcp_platform::tasks::TaskReporter;
use mcp_platform::worker::{Worker, WorkerOptions};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
struct BenchNoop {
    task_id: Uuid,
}

#[async_trait]
impl Job for BenchNoop {
    const KIND: &'static str = "bench_noop";

    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let Some(task) = TaskReporter::begin(ctx, self.task_id).await? else {
            return Ok(());
        };
        task.complete(json!({})).await
    }
}

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let rate = knob("BENCH_RATE", 500).max(1);
    let jobs = usize::try_from(knob("BENCH_JOBS", 5000)).unwrap_or(5000);
    let concurrency = usize::try_from(knob("BENCH_CONCURRENCY", 16)).unwrap_or(16);
    let poll = Duration::from_millis(knob("BENCH_POLL_MS", 1));

    let app = mcp_platform_tests::spawn_app_with(&[
        ("RATE_LIMIT_ENABLED", "false"),
        ("LOG_LEVEL", "error"),
    ])
    .await;
    let user = app.user("bench", "developer").await;
    let owner = Uuid::parse_str(&user.id).expect("user id");

    // Task records first, each subscribed before any job exists.
    let now = mcp_platform::domain::now();
    let mut ids = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let task = Task {
            id: Uuid::new_v4(),
            task_type: BenchNoop::KIND.into(),
            owner_id: owner,
            status: TaskStatus::Pending,
            progress: 0,
            message: None,
            result: None,
            error: None,
            created_at: now,
            started_at: None,
            completed_at: None,
            expires_at: now + chrono::Duration::hours(1),
        };
        app.state.tasks.create(&task).await.expect("task stored");
        ids.push(task.id);
    }
    let sent_at: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut readers = Vec::new();
    for chunk in ids.chunks(mcp_platform::api::realtime::MAX_SUBSCRIPTIONS) {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!(
            "ws://{}/ws?token={}",
            app.addr, user.access_token
        ))
        .await
        .expect("websocket connects");
        for id in chunk {
            ws.send(Message::Text(
                json!({"type": "subscribe", "task_id": id})
                    .to_string()
                    .into(),
            ))
            .await
            .expect("subscribe sent");
        }
        let mut acks = 0;
        while acks < chunk.len() {
            if let Some(Ok(Message::Text(text))) = ws.next().await {
                let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
                assert_eq!(message["type"], "subscribed", "{message}");
                acks += 1;
            }
        }
        let (sent_at, latencies) = (sent_at.clone(), latencies.clone());
        let expected = chunk.len();
        readers.push(tokio::spawn(async move {
            let mut done = 0;
            while done < expected {
                let Some(Ok(Message::Text(text))) = ws.next().await else {
                    continue;
                };
                let arrived = Instant::now();
                let message: Value = serde_json::from_str(text.as_str()).expect("JSON");
                if message["status"] != "completed" {
                    continue;
                }
                let id = Uuid::parse_str(message["task_id"].as_str().unwrap_or_default())
                    .expect("task id");
                if let Some(sent) = sent_at.lock().get(&id) {
                    latencies.lock().push(arrived - *sent);
                }
                done += 1;
            }
        }));
    }

    let registry = Registry::standard().with::<BenchNoop>();
    let worker = Worker::with_options(
        app.state.clone(),
        registry,
        WorkerOptions {
            concurrency,
            lease: Duration::from_secs(60),
            poll_interval: poll,
            backoff_base: Duration::from_millis(10),
            shutdown_grace: Duration::from_secs(5),
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(async move {
        worker
            .run(async {
                let _ = stopped.await;
            })
            .await
    });

    // Steady rate: job i is due at start + i/rate.
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let job = NewJob::of(&BenchNoop { task_id: *id })
            .expect("job")
            .idempotency_key(mcp_platform::tasks::topic(*id));
        sent_at.lock().insert(*id, Instant::now());
        app.state.jobs.enqueue(job).await.expect("enqueued");
    }
    let enqueue_secs = start.elapsed().as_secs_f64();
    for reader in readers {
        tokio::time::timeout(Duration::from_secs(120), reader)
            .await
            .expect("every completed update arrives")
            .expect("reader ran");
    }
    let total_secs = start.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = worker.await;

    let mut latencies = latencies.lock().clone();
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "jobs {} | offered {rate}/s | enqueued at {:.0}/s | completed+delivered at {:.0}/s",
        latencies.len(),
        jobs as f64 / enqueue_secs,
        jobs as f64 / total_secs
    );
    println!(
        "enqueue -> completed -> WebSocket latency ms: p50 {:.2} | p90 {:.2} | p99 {:.2} | max {:.2}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(percentile(&latencies, 100.0)),
    );
}
