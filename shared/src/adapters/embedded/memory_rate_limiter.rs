use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::error::Result;
use crate::ports::{RateDecision, RateLimiter};

/// Fixed-window counters in process memory. Expired windows are swept when
/// the map grows, so memory stays bounded by the number of active keys.
#[derive(Default)]
pub struct MemoryRateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

const SWEEP_ABOVE: usize = 10_000;

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision> {
        let now = Instant::now();
        let mut windows = self.windows.lock();
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, (started, _)| now.duration_since(*started) < window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            let retry_after = window.saturating_sub(now.duration_since(entry.0));
            return Ok(RateDecision::Limited { retry_after });
        }
        entry.1 += 1;
        Ok(RateDecision::Allowed {
            remaining: limit - entry.1,
        })
    }
}
