//! The scheduler: enqueues periodic jobs when they fall due, exactly once
//! per period, however many schedulers run.
//!
//! Time is cut into periods aligned to the Unix epoch (an hourly job's
//! periods start on the hour). [`Scheduler::tick`] enqueues, for each
//! periodic job, the job of the period `now` falls in, under the
//! idempotency key `kind:period-start`. The queue stores one job per key, so
//! a second scheduler — or a second tick in the same period — finds the job
//! already there: exactly once by construction, with no lock to take, expire
//! or lose. What a tick misses (no scheduler ran during a whole period) is
//! not made up later; periodic jobs here are catch-all sweeps, for which the
//! next period's run does the same work.
//!
//! `mcp-platform scheduler` loops on `tick`; `serve` runs the loop
//! in-process; a cloud cron function calls `tick` once per invocation.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use parking_lot::Mutex;

use crate::error::Result;
use crate::jobs::{
    DeliverHistory, ExpireTaskResults, Job, NewJob, PurgeExpiredSessions, PurgeFinishedJobs,
    SyncKnowledge,
};
use crate::ports::JobQueue;

/// A job enqueued once per `period`.
#[derive(Clone)]
pub struct Periodic {
    kind: &'static str,
    period: Duration,
    make: fn() -> Result<NewJob>,
}

impl Periodic {
    /// Kind `J` (its default payload) every `period` (whole seconds, at least one).
    pub fn every<J: Job + Default>(period: Duration) -> Self {
        Self {
            kind: J::KIND,
            period: period.max(Duration::from_secs(1)),
            make: || NewJob::of(&J::default()),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// The start of the period `now` falls in.
    pub fn period_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let period = i64::try_from(self.period.as_secs().max(1)).unwrap_or(i64::MAX);
        let secs = now.timestamp();
        let start = secs - secs.rem_euclid(period);
        Utc.timestamp_opt(start, 0).single().unwrap_or(now)
    }

    /// The idempotency key of the job of the period `now` falls in.
    pub fn key(&self, now: DateTime<Utc>) -> String {
        format!(
            "{}:{}",
            self.kind,
            self.period_start(now)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }
}

/// The periodic jobs this platform ships.
pub fn standard_schedule() -> Vec<Periodic> {
    vec![
        // Catch-up only: every tool change already delivers its record.
        Periodic::every::<DeliverHistory>(Duration::from_secs(60)),
        Periodic::every::<PurgeExpiredSessions>(Duration::from_secs(3600)),
        Periodic::every::<PurgeFinishedJobs>(Duration::from_secs(3600)),
        // Catch-up only: documents are indexed when written.
        Periodic::every::<SyncKnowledge>(Duration::from_secs(60)),
        Periodic::every::<ExpireTaskResults>(Duration::from_secs(3600)),
    ]
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Kinds whose job of this period this tick created.
    pub enqueued: Vec<&'static str>,
    /// Kinds whose job of this period already existed.
    pub already_there: Vec<&'static str>,
    /// Kinds that could not be enqueued (retried on the next tick).
    pub failed: Vec<&'static str>,
}

pub struct Scheduler {
    queue: Arc<dyn JobQueue>,
    schedule: Vec<Periodic>,
    /// The last period start each kind was seen enqueued by this scheduler:
    /// later ticks in that period skip the queue.
    seen: Mutex<HashMap<&'static str, DateTime<Utc>>>,
}

impl Scheduler {
    pub fn new(queue: Arc<dyn JobQueue>, schedule: Vec<Periodic>) -> Self {
        Self {
            queue,
            schedule,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn schedule(&self) -> &[Periodic] {
        &self.schedule
    }

    /// Enqueues each periodic job of the period `now` falls in, unless it
    /// is already queued (by this or any other scheduler).
    pub async fn tick(&self, now: DateTime<Utc>) -> TickReport {
        let mut report = TickReport::default();
        for periodic in &self.schedule {
            let start = periodic.period_start(now);
            if self.seen.lock().get(periodic.kind) == Some(&start) {
                report.already_there.push(periodic.kind);
                continue;
            }
            match self.enqueue(periodic, now).await {
                Ok(created) => {
                    self.seen.lock().insert(periodic.kind, start);
                    if created {
                        report.enqueued.push(periodic.kind);
                    } else {
                        report.already_there.push(periodic.kind);
                    }
                }
                Err(e) => {
                    tracing::warn!(kind = periodic.kind, error = %e, "periodic job not enqueued; retried next tick");
                    report.failed.push(periodic.kind);
                }
            }
        }
        if !report.enqueued.is_empty() {
            tracing::info!(enqueued = ?report.enqueued, "periodic jobs enqueued");
        }
        report
    }

    async fn enqueue(&self, periodic: &Periodic, now: DateTime<Utc>) -> Result<bool> {
        let job = (periodic.make)()?.idempotency_key(periodic.key(now));
        Ok(self.queue.enqueue(job).await?.created)
    }

    /// Ticks every `every` until `shutdown` resolves; the first tick is at once.
    pub async fn run(&self, every: Duration, shutdown: impl Future<Output = ()>) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        tracing::info!(every = ?every, kinds = ?self.schedule.iter().map(Periodic::kind).collect::<Vec<_>>(), "scheduler started");
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticker.tick() => {
                    self.tick(crate::domain::now()).await;
                }
            }
        }
        tracing::info!("scheduler stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn periods_are_aligned_to_the_epoch() {
        let hourly = Periodic::every::<PurgeExpiredSessions>(Duration::from_secs(3600));
        assert_eq!(
            hourly.period_start(at("2026-11-25T18:59:59.999Z")),
            at("2026-11-25T18:00:00Z")
        );
        assert_eq!(
            hourly.period_start(at("2026-11-25T19:00:00Z")),
            at("2026-11-25T19:00:00Z")
        );
        assert_eq!(
            hourly.key(at("2026-11-25T18:30:00Z")),
            "purge_expired_sessions:2026-11-25T18:00:00Z"
        );
        let minutely = Periodic::every::<DeliverHistory>(Duration::from_secs(60));
        assert_eq!(
            minutely.key(at("1969-12-31T23:59:30Z")),
            "deliver_history:1969-12-31T23:59:00Z",
            "times before the epoch round down too"
        );
    }
}
