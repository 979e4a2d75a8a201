//! Adapters: one module per technology. `embedded` holds the in-process
//! implementations used when nothing else is configured.

pub mod embedded;
#[cfg(feature = "local-embedder")]
pub mod local_embedder;
#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "mongodb")]
pub mod mongo_knowledge;
#[cfg(feature = "mongodb")]
pub mod mongo_tasks;
pub mod openai_chat;
pub mod openai_embeddings;
#[cfg(feature = "qdrant")]
pub mod qdrant;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
pub mod redis_event_bus;
#[cfg(feature = "secretsmanager")]
pub mod secretsmanager;
pub mod sql;
#[cfg(feature = "sqs")]
pub mod sqs;
