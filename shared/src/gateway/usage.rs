//! Usage rows leave the call path through a channel; a background task
//! writes them in batches (every [`FLUSH_EVERY`] or [`BATCH`] rows), so a
//! call never waits for a database write. A full channel drops rows (logged)
//! rather than slowing calls down.

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
}

impl UsageRecorder {
    pub fn start(sql: Arc<SqlStore>) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(flush_loop(sql, rx));
        Self { tx }
    }

    pub fn record(&self, row: UsageRow) {
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
