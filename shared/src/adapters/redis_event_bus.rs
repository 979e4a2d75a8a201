//! [`EventBus`] over Redis pub/sub, so every replica's WebSocket and SSE
//! clients see events published on any replica (a job finished by a worker
//! on host B reaches a client connected to host A).
//!
//! Publishing is one `PUBLISH` on the shared connection to the channel
//! `{prefix}events`. Each process keeps one subscriber connection that
//! forwards every message into a local bounded broadcast, which is what
//! [`EventBus::subscribe`] hands out. Local events take the same path (no
//! local shortcut), so one publisher's events reach every subscriber once,
//! in publish order. The subscriber reconnects with backoff when Redis goes
//! away; events published meanwhile are lost (best effort — task records
//! stay the truth, `GET /tasks/{id}` has them).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::broadcast;

use super::embedded::EVENT_BUFFER;
use super::redis::RedisConn;
use crate::error::{Error, Result};
use crate::ports::{Event, EventBus, Ping};

/// The longest pause between reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

pub struct RedisEventBus {
    redis: Arc<RedisConn>,
    channel: String,
    local: broadcast::Sender<Event>,
    forwarder: tokio::task::JoinHandle<()>,
}

impl RedisEventBus {
    /// Starts the subscriber task (it connects in the background, so the
    /// platform starts while Redis is down).
    pub fn start(redis: Arc<RedisConn>) -> Self {
        let channel = redis.key("events");
        let local = broadcast::channel(EVENT_BUFFER).0;
        let forwarder = tokio::spawn(forward(
            redis.client().clone(),
            channel.clone(),
            local.clone(),
        ));
        Self {
            redis,
            channel,
            local,
            forwarder,
        }
    }
}

impl Drop for RedisEventBus {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

/// Subscribes, forwards until the connection drops, and starts over.
async fn forward(client: redis::Client, channel: String, local: broadcast::Sender<Event>) {
    let mut delay = Duration::from_millis(50);
    loop {
        match subscribe(&client, &channel).await {
            Ok(pubsub) => {
                delay = Duration::from_millis(50);
                tracing::debug!(%channel, "event subscriber connected");
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let payload: Vec<u8> = match msg.get_payload() {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(error = %e, "event payload unreadable; dropped");
                            continue;
                        }
                    };
                    match serde_json::from_slice::<Event>(&payload) {
                        // An error only means nobody listens on this replica.
                        Ok(event) => {
                            let _ = local.send(event);
                        }
                        Err(e) => tracing::warn!(error = %e, "event does not decode; dropped"),
                    }
                }
                tracing::warn!(%channel, "event subscriber disconnected; reconnecting");
            }
            Err(e) => {
                tracing::warn!(error = %e, ?delay, "event subscriber cannot connect; retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RECONNECT_DELAY);
    }
}

async fn subscribe(
    client: &redis::Client,
    channel: &str,
) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

#[async_trait]
impl Ping for RedisEventBus {
    async fn ping(&self) -> Result<()> {
        self.redis.ping().await
    }
}

#[async_trait]
impl EventBus for RedisEventBus {
    async fn publish(&self, event: Event) -> Result<()> {
        let payload = serde_json::to_vec(&event)
            .map_err(|e| Error::internal(format!("event does not encode: {e}")))?;
        self.redis
            .query::<i64>(redis::cmd("PUBLISH").arg(&self.channel).arg(payload))
            .await
            .map(|_| ())
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }
}
