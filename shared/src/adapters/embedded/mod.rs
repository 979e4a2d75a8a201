//! In-process adapters for the embedded shape. They keep the same contracts
//! as their server-backed counterparts; they just do not share state across
//! processes.

mod flat_index;
mod memory_cache;
mod memory_event_bus;
mod memory_rate_limiter;
mod offline_embedder;

pub use flat_index::{dot, FlatIndex};
pub use memory_cache::MemoryCache;
pub use memory_event_bus::{MemoryEventBus, EVENT_BUFFER};
pub use memory_rate_limiter::MemoryRateLimiter;
pub use offline_embedder::{normalize, OfflineEmbedder, DEFAULT_DIMENSION};
