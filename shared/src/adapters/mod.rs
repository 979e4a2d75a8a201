//! Adapters: one module per technology. `embedded` holds the in-process
//! implementations used when nothing else is configured.

pub mod embedded;
#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "mongodb")]
pub mod mongo_tasks;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
pub mod redis_event_bus;
pub mod sql;
