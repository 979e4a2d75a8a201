//! The job consumer: claim → run the handler → ack after the effect, or
//! retry with backoff, or dead-letter.
//!
//! - At most `WORKER_CONCURRENCY` jobs run at once; the worker claims only as
//!   many as it has free slots, so nothing it holds waits behind others
//!   while its lease runs down.
//! - A handler runs at most one lease long: past that another worker may
//!   already have the job, so the run is abandoned and counted as failed.
//! - A panicking handler fails its own job only (retried like an error).
//! - A job of a kind this worker does not know is retried, not dropped: a
//!   newer worker of a rolling deploy may know it.
//! - Ack and settle failures are logged and left to the lease: the job runs
//!   again, and its handler is idempotent.
//! - Shutdown stops claiming and waits for the jobs in flight, up to a grace
//!   period; what is still running then is left to lease expiry.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rand::Rng;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::config::JobSettings;
use crate::jobs::{Delivery, JobContext, JobEnvelope, JobError, Registry, Retried};
use crate::ports::JobQueue;
use crate::state::AppState;

/// The longest retry delay, however many attempts came before.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The longest pause between claims while the queue keeps failing: the
/// worker backs off from an unreachable database instead of hammering it,
/// and still notices its return within this.
const MAX_OUTAGE_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub concurrency: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub backoff_base: Duration,
    /// How long shutdown waits for jobs in flight.
    pub shutdown_grace: Duration,
}

impl WorkerOptions {
    pub fn from_settings(jobs: &JobSettings) -> Self {
        Self {
            concurrency: jobs.worker_concurrency.max(1),
            lease: jobs.lease,
            poll_interval: jobs.worker_poll_interval,
            backoff_base: jobs.backoff_base,
            // A job still running after a whole lease is abandoned anyway.
            shutdown_grace: jobs.lease,
        }
    }
}

/// The delay before attempt `attempt + 1`: `base · 2^(attempt-1)`, capped at
/// [`MAX_BACKOFF`], then scaled by a random factor in [½, 1] ("equal
/// jitter") so jobs that failed together do not all come back together.
pub fn backoff(base: Duration, attempt: u32, rng: &mut impl Rng) -> Duration {
    let nominal = nominal_backoff(base, attempt);
    nominal.mul_f64(rng.gen_range(0.5..=1.0))
}

/// The delay before jitter; see [`backoff`].
pub fn nominal_backoff(base: Duration, attempt: u32) -> Duration {
    // 2^30 times even a one-millisecond base is past the cap.
    let doublings = attempt.saturating_sub(1).min(30);
    base.saturating_mul(1u32 << doublings).min(MAX_BACKOFF)
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    pub completed: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    /// Still running when the shutdown grace ran out; left to lease expiry.
    pub abandoned: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Completed,
    Retried,
    DeadLettered,
    /// Lease lost or the queue unreachable: the lease decides what happens.
    Unsettled,
}

#[derive(Clone)]
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    registry: Arc<Registry>,
    state: AppState,
    options: WorkerOptions,
}

impl Worker {
    /// A worker over the state's queue, with the state's settings.
    pub fn new(state: AppState, registry: Registry) -> Self {
        let options = WorkerOptions::from_settings(&state.settings.jobs);
        Self::with_options(state, registry, options)
    }

    pub fn with_options(state: AppState, registry: Registry, options: WorkerOptions) -> Self {
        Self {
            queue: state.jobs.clone(),
            registry: Arc::new(registry),
            state,
            options,
        }
    }

    pub fn options(&self) -> &WorkerOptions {
        &self.options
    }

    /// Consumes jobs until `shutdown` resolves, then waits for the jobs in
    /// flight (up to the grace period).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> WorkerReport {
        let mut report = WorkerReport::default();
        let mut in_flight: JoinSet<Settled> = JoinSet::new();
        let mut failed_claims = 0u32;
        tokio::pin!(shutdown);
        tracing::info!(
            concurrency = self.options.concurrency,
            kinds = ?self.registry.kinds(),
            "worker started"
        );
        loop {
            while let Some(done) = in_flight.try_join_next() {
                count(&mut report, done);
            }
            let free = self.options.concurrency.saturating_sub(in_flight.len());
            if free == 0 {
                tokio::select! {
                    () = &mut shutdown => break,
                    Some(done) = in_flight.join_next() => count(&mut report, done),
                }
                continue;
            }
            // A claim is not cancelled half-way (that would strand leased
            // jobs until their leases ran out); shutdown is checked after it.
            let claimed = self.queue.claim(free, self.options.lease).await;
            let pause = match claimed {
                Ok(deliveries) if !deliveries.is_empty() => {
                    failed_claims = 0;
                    for delivery in deliveries {
                        let worker = self.clone();
                        in_flight.spawn(async move { worker.process(delivery).await });
                    }
                    None
                }
                Ok(_) => {
                    failed_claims = 0;
                    Some(self.options.poll_interval)
                }
                Err(e) => {
                    failed_claims = failed_claims.saturating_add(1);
                    let pause = nominal_backoff(self.options.poll_interval, failed_claims)
                        .min(MAX_OUTAGE_PAUSE);
                    tracing::warn!(error = %e, ?pause, "claiming jobs failed; retrying");
                    Some(pause)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(pause) => {}
                    Some(done) = in_flight.join_next() => count(&mut report, done),
                }
            } else if shutdown.as_mut().now_or_never().is_some() {
                break;
            }
        }

        tracing::info!(
            in_flight = in_flight.len(),
            "worker stopping; finishing jobs in flight"
        );
        let drain = async {
            while let Some(done) = in_flight.join_next().await {
                count(&mut report, done);
            }
        };
        if tokio::time::timeout(self.options.shutdown_grace, drain)
            .await
            .is_err()
        {
            report.abandoned = in_flight.len() as u64;
            tracing::warn!(
                abandoned = report.abandoned,
                "jobs still running after the grace period are left to lease expiry"
            );
            in_flight.abort_all();
        }
        tracing::info!(?report, "worker stopped");
        report
    }

    /// Claims what is available now (up to the concurrency) and runs it to
    /// the end; how many jobs it claimed. For draining in tests and for
    /// one-shot runners.
    pub async fn run_once(&self) -> crate::error::Result<usize> {
        let deliveries = self
            .queue
            .claim(self.options.concurrency, self.options.lease)
            .await?;
        let claimed = deliveries.len();
        let mut running = JoinSet::new();
        for delivery in deliveries {
            let worker = self.clone();
            running.spawn(async move { worker.process(delivery).await });
        }
        while running.join_next().await.is_some() {}
        Ok(claimed)
    }

    async fn process(self, delivery: Delivery) -> Settled {
        let span = tracing::info_span!(
            "job",
            job_id = %delivery.job.id,
            kind = %delivery.job.kind,
            attempt = delivery.job.attempt
        );
        async move {
            let outcome = self.run_job(&delivery.job).await;
            self.settle(&delivery, outcome).await
        }
        .instrument(span)
        .await
    }

    /// Runs one job's handler as [`Worker::run`] does — unknown kinds,
    /// panics and overruns of the lease become retryable errors — without
    /// settling it, for callers whose transport settles by itself (an SQS
    /// batch handler reports its failures instead of acking).
    pub async fn run_job(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let Some(handler) = self.registry.handler(&job.kind) else {
            return Err(JobError::Retryable(format!(
                "no handler for job kind {:?} in this worker",
                job.kind
            )));
        };
        let ctx = JobContext {
            state: &self.state,
            job,
        };
        let run = AssertUnwindSafe(handler.handle(&ctx)).catch_unwind();
        match tokio::time::timeout(self.options.lease, run).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panic)) => Err(JobError::Retryable(format!(
                "handler panicked: {}",
                panic_message(panic.as_ref())
            ))),
            Err(_) => Err(JobError::Retryable(format!(
                "handler ran longer than its lease ({:?})",
                self.options.lease
            ))),
        }
    }

    async fn settle(&self, delivery: &Delivery, outcome: Result<(), JobError>) -> Settled {
        let receipt = &delivery.receipt;
        let settled = match &outcome {
            Ok(()) => self.queue.ack(receipt).await.map(|acked| {
                if acked {
                    tracing::debug!("job done");
                    Settled::Completed
                } else {
                    tracing::warn!(
                        "job done but its lease was lost before the ack; it may run again"
                    );
                    Settled::Unsettled
                }
            }),
            Err(JobError::Permanent(error)) => {
                self.queue.dead_letter(receipt, error).await.map(|buried| {
                    if buried {
                        tracing::warn!(%error, "job failed permanently; dead-lettered");
                        Settled::DeadLettered
                    } else {
                        Settled::Unsettled
                    }
                })
            }
            Err(JobError::Retryable(error)) => {
                let delay = backoff(
                    self.options.backoff_base,
                    delivery.job.attempt,
                    &mut rand::thread_rng(),
                );
                self.queue
                    .retry(receipt, delay, error)
                    .await
                    .map(|retried| match retried {
                        Retried::Scheduled { at } => {
                            tracing::info!(%error, retry_at = %at, "job failed; retrying");
                            Settled::Retried
                        }
                        Retried::DeadLettered => {
                            tracing::warn!(%error, "job failed on its last attempt; dead-lettered");
                            Settled::DeadLettered
                        }
                        Retried::LeaseLost => Settled::Unsettled,
                    })
            }
        };
        settled.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "settling the job failed; its lease will expire and it runs again");
            Settled::Unsettled
        })
    }
}

fn count(report: &mut WorkerReport, done: Result<Settled, tokio::task::JoinError>) {
    match done {
        Ok(Settled::Completed) => report.completed += 1,
        Ok(Settled::Retried) => report.retried += 1,
        Ok(Settled::DeadLettered) => report.dead_lettered += 1,
        Ok(Settled::Unsettled) => {}
        // Panics are caught inside the task; only an abort lands here.
        Err(e) => tracing::warn!(error = %e, "job task ended abnormally"),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn the_nominal_backoff_doubles_from_the_base_up_to_the_cap() {
        let base = Duration::from_millis(100);
        assert_eq!(nominal_backoff(base, 1), base);
        assert_eq!(nominal_backoff(base, 2), base * 2);
        assert_eq!(nominal_backoff(base, 5), base * 16);
        assert_eq!(nominal_backoff(base, 40), MAX_BACKOFF);
        assert_eq!(nominal_backoff(base, u32::MAX), MAX_BACKOFF);
    }

    proptest! {
        #[test]
        fn backoff_stays_between_half_and_all_of_the_nominal_delay(
            base_ms in 1u64..10_000,
            attempt in 1u32..100,
            seed in any::<u64>(),
        ) {
            let base = Duration::from_millis(base_ms);
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let nominal = nominal_backoff(base, attempt);
            let delay = backoff(base, attempt, &mut rng);
            prop_assert!(delay <= nominal);
            prop_assert!(delay >= nominal / 2);
            prop_assert!(nominal_backoff(base, attempt + 1) >= nominal);
        }
    }
}
