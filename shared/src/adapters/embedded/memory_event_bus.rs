//! The in-process [`EventBus`]: one bounded broadcast channel. Enough for
//! one process (the embedded shape); with several replicas, events go
//! through Redis instead.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::error::Result;
use crate::ports::{Event, EventBus, Ping};

/// Events a slow subscriber may fall behind by before it loses the oldest.
pub const EVENT_BUFFER: usize = 1024;

pub struct MemoryEventBus {
    sender: broadcast::Sender<Event>,
}

impl Default for MemoryEventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

#[async_trait]
impl Ping for MemoryEventBus {
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn publish(&self, event: Event) -> Result<()> {
        // An error only means nobody is subscribed right now.
        let _ = self.sender.send(event);
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
