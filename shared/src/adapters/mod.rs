//! Adapters: one module per technology. `embedded` holds the in-process
//! implementations used when nothing else is configured.

pub mod embedded;
#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
pub mod sql;
#[cfg(feature = "sqs")]
pub mod sqs;
