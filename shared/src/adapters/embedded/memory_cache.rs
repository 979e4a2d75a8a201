use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moka::sync::Cache as Moka;
use moka::Expiry;

use crate::error::Result;
use crate::ports::{Cache, Ping};

/// A bounded in-process cache with per-entry TTLs (moka, TinyLFU eviction).
pub struct MemoryCache {
    entries: Moka<String, (Bytes, Duration)>,
}

struct PerEntryTtl;

impl Expiry<String, (Bytes, Duration)> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _: &String,
        value: &(Bytes, Duration),
        _: Instant,
    ) -> Option<Duration> {
        Some(value.1)
    }
    fn expire_after_update(
        &self,
        _: &String,
        value: &(Bytes, Duration),
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.1)
    }
}

impl MemoryCache {
    /// `max_bytes` bounds the total size of cached values.
    pub fn new(max_bytes: u64) -> Self {
        let entries = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &(Bytes, Duration)| {
                u32::try_from(k.len() + v.0.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { entries }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.entries.get(key).map(|(value, _)| value))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<()> {
        self.entries.insert(key.to_owned(), (value, ttl));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.entries.invalidate(key);
        Ok(())
    }
}

#[async_trait]
impl Ping for MemoryCache {
    /// In-process: reachable whenever the process is.
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
