//! The worker of the crash test (`tests/tests/suite/queue.rs`): `mcp-platform worker`
//! exactly — settings from the environment, `AppState::build`, the standard
//! registry, `Worker::run` until SIGTERM — plus one test-only job kind,
//! `test_ledger`, whose effect the test can count.
//!
//! The effect is idempotent the way a real handler's must be: in one
//! transaction, a ledger row keyed by the job's idempotency key is inserted
//! and, only if it was new, a running total is incremented. A redelivered job
//! finds its row and changes nothing, so the total counts each job once
//! however often it ran. Every run is also logged (outside the transaction),
//! so the test can see that kills really landed mid-job.

use std::process::ExitCode;
use std::time::Duration;

use async_trait::async_trait;
use mcp_platform::config::{Overrides, Settings, Source};
use mcp_platform::jobs::{Job, JobContext, JobError, Registry};
use mcp_platform::state::AppState;
use mcp_platform::worker::Worker;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Ledger {}

fn failed(what: &str, e: impl std::fmt::Display) -> JobError {
    JobError::Retryable(format!("{what}: {e}"))
}

#[async_trait]
impl Job for Ledger {
    const KIND: &'static str = "test_ledger";

    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let pool = ctx.state.sql.pool();
        let job = ctx.job;
        sqlx::query("INSERT INTO test_ledger_runs (job_id, attempt) VALUES (?, ?)")
            .bind(job.id.to_string())
            .bind(i64::from(job.attempt))
            .execute(pool)
            .await
            .map_err(|e| failed("log the run", e))?;
        // Work takes time: it widens the windows a kill can land in, before
        // the effect and between the effect and the ack.
        let pause = Duration::from_millis(2 + (job.id.as_u128() % 8) as u64);
        tokio::time::sleep(pause).await;

        let mut tx = pool.begin().await.map_err(|e| failed("begin", e))?;
        let recorded =
            sqlx::query("INSERT INTO test_ledger (idempotency_key, job_id) VALUES (?, ?)")
                .bind(&job.idempotency_key)
                .bind(job.id.to_string())
                .execute(&mut *tx)
                .await;
        match recorded {
            Ok(_) => {
                sqlx::query("UPDATE test_ledger_total SET n = n + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| failed("count the effect", e))?;
                tx.commit().await.map_err(|e| failed("commit", e))?;
            }
            // Already recorded by an earlier delivery: nothing to do.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                tx.rollback().await.map_err(|e| failed("rollback", e))?;
            }
            Err(e) => return Err(failed("record the effect", e)),
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load(&Source::from_env(), &Overrides::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    mcp_platform::telemetry::init(&settings);
    let state = match AppState::build(settings).await {
        Ok(state) => state,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    Worker::new(state, Registry::standard().with::<Ledger>())
        .run(mcp_platform::http::shutdown_signal())
        .await;
    ExitCode::SUCCESS
}
