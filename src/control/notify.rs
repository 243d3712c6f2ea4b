//! Wakes the long polls of a gateway when a task is queued for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One `Notify` per gateway, made on first use.
#[derive(Clone, Default)]
pub struct Notifier {
    // A std Mutex: held only to look up the map, never across an await.
    gateways: Arc<Mutex<HashMap<i64, Arc<Notify>>>>,
}

impl Notifier {
    /// The `Notify` of a gateway.
    pub fn of(&self, gateway_id: i64) -> Arc<Notify> {
        let mut map = self.gateways.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(gateway_id).or_default().clone()
    }

    /// Wakes the gateway's waiting poll (or the next one).
    pub fn wake(&self, gateway_id: i64) {
        self.of(gateway_id).notify_waiters();
        self.of(gateway_id).notify_one();
    }
}
