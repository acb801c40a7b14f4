//! Engine counters, cheap to bump from the invocation path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::{json, Value};

#[derive(Default)]
pub struct Metrics {
    pub invocations: AtomicU64,
    pub cold_starts: AtomicU64,
    pub function_errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub crashes: AtomicU64,
    pub out_of_memory: AtomicU64,
    pub init_failures: AtomicU64,
    pub throttled_concurrency: AtomicU64,
    pub throttled_memory: AtomicU64,
    pub throttled_queue_full: AtomicU64,
    pub evictions: AtomicU64,
    pub payload_too_large: AtomicU64,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Metrics {
    pub fn snapshot(&self) -> Value {
        let g = |c: &AtomicU64| c.load(Relaxed);
        json!({
            "invocations": g(&self.invocations),
            "cold_starts": g(&self.cold_starts),
            "function_errors": g(&self.function_errors),
            "timeouts": g(&self.timeouts),
            "crashes": g(&self.crashes),
            "out_of_memory": g(&self.out_of_memory),
            "init_failures": g(&self.init_failures),
            "throttled": {
                "concurrency": g(&self.throttled_concurrency),
                "memory": g(&self.throttled_memory),
                "queue_full": g(&self.throttled_queue_full),
            },
            "evictions": g(&self.evictions),
            "payload_too_large": g(&self.payload_too_large),
        })
    }
}
