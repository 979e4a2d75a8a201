//! Usage rows leave the call path through a channel; a background task
//! writes them in batches of up to [`BATCH`] rows every [`FLUSH_EVERY`], so a
//! call never waits for a database write. A full channel drops rows (logged)
//! rather than slowing calls down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::UsageRow;
use crate::ports::DeploymentStore;

const CHANNEL: usize = 65_536;
const BATCH: usize = 500;
const FLUSH_EVERY: Duration = Duration::from_millis(500);

pub struct UsageRecorder {
    tx: mpsc::Sender<UsageRow>,
    /// Gateway calls by outcome, for `/metrics`.
    ok: AtomicU64,
    errors: AtomicU64,
}

impl UsageRecorder {
    pub fn start(store: Arc<dyn DeploymentStore>) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(flush_loop(store, rx));
        Self {
            tx,
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Appends `gateway_calls_total` to a Prometheus exposition.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP gateway_calls_total Calls through /mcp/{{slug}} by outcome.\n\
             # TYPE gateway_calls_total counter\n\
             gateway_calls_total{{outcome=\"ok\"}} {}\n\
             gateway_calls_total{{outcome=\"error\"}} {}",
            self.ok.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed)
        );
    }

    pub fn record(&self, row: UsageRow) {
        let counter = if row.ok { &self.ok } else { &self.errors };
        counter.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(row).is_err() {
            tracing::warn!("usage row dropped: the recorder is behind");
        }
    }
}

/// Drains the channel on a timer instead of waiting on it: a receiver parked
/// in `recv()` would be woken by every call, a cross-thread wake-up on the
/// call path; one parked on the timer costs the call nothing.
async fn flush_loop(store: Arc<dyn DeploymentStore>, mut rx: mpsc::Receiver<UsageRow>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tick.tick().await;
        let open = loop {
            match rx.try_recv() {
                Ok(row) => {
                    batch.push(row);
                    if batch.len() == BATCH {
                        flush(store.as_ref(), &mut batch).await;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break true,
                Err(mpsc::error::TryRecvError::Disconnected) => break false,
            }
        };
        flush(store.as_ref(), &mut batch).await;
        if !open {
            return;
        }
    }
}

async fn flush(store: &dyn DeploymentStore, batch: &mut Vec<UsageRow>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = store.insert_usage(batch).await {
        tracing::warn!(error = %e, rows = batch.len(), "usage rows not stored");
    }
    batch.clear();
}
