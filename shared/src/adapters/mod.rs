//! Adapters: one module per technology. `embedded` holds the in-process
//! implementations used when nothing else is configured.

pub mod embedded;
#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "openai")]
pub mod openai_chat;
#[cfg(feature = "redis")]
pub mod redis;
pub mod sql;
