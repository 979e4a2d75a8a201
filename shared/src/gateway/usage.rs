//! Usage rows leave the call path through a channel; a background task
//! writes them in batches (every [`FLUSH_EVERY`] or [`BATCH`] rows), so a
//! call never waits for a database write. A full channel drops rows (logged)
//! rather than slowing calls down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::UsageRow;
use crate::adapters::sql::SqlStore;

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
    pub fn start(sql: Arc<SqlStore>) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(flush_loop(sql, rx));
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

async fn flush_loop(sql: Arc<SqlStore>, mut rx: mpsc::Receiver<UsageRow>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // Wait for the first row, then gather for a moment.
        match rx.recv().await {
            Some(row) => batch.push(row),
            None => return,
        }
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(row)) => batch.push(row),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(e) = sql.insert_usage(&batch).await {
            tracing::warn!(error = %e, rows = batch.len(), "usage rows not stored");
        }
        batch.clear();
    }
}
