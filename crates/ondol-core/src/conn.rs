//! Counters of one listener's connections, bumped by the server's accept loop and
//! read by the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections open now.
    pub open: AtomicU64,
    pub accepted: AtomicU64,
    /// Closed at accept because the listener was at its connection cap.
    pub shed: AtomicU64,
    /// Closed for sending a request head too slowly.
    pub header_timeouts: AtomicU64,
    /// Closed after sitting idle between requests.
    pub idle_closed: AtomicU64,
    /// Closed because the client read none of its response for the body timeout.
    pub write_timeouts: AtomicU64,
    /// accept() failures (for example out of file descriptors).
    pub accept_errors: AtomicU64,
    /// The cap in force.
    pub max_connections: AtomicU64,
}

impl ConnStats {
    pub fn snapshot(&self) -> Value {
        json!({
            "open": self.open.load(Relaxed),
            "accepted": self.accepted.load(Relaxed),
            "shed": self.shed.load(Relaxed),
            "header_timeouts": self.header_timeouts.load(Relaxed),
            "idle_closed": self.idle_closed.load(Relaxed),
            "write_timeouts": self.write_timeouts.load(Relaxed),
            "accept_errors": self.accept_errors.load(Relaxed),
            "max_connections": self.max_connections.load(Relaxed),
        })
    }
}
