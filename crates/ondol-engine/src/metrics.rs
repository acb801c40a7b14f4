//! Engine counters, cheap to bump from the invocation path: the node's, and each
//! version's (with its pool's public view).

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

/// Durations in buckets 10 % apart: bucket `i` holds those up to `0.1 · 1.1^i` ms
/// (the last one everything longer), enough to tell a p99 within 10 %.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
}

const BUCKETS: usize = 180;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    pub fn upper_ms(i: usize) -> f64 {
        0.1 * 1.1f64.powi(i as i32)
    }

    pub fn record(&self, ms: f64) {
        let i = if ms <= 0.1 {
            0
        } else {
            ((ms / 0.1).ln() / 1.1f64.ln()).ceil() as usize
        };
        self.buckets[i.min(BUCKETS - 1)].fetch_add(1, Relaxed);
    }

    /// The non-empty buckets as (upper bound in ms, count).
    pub fn snapshot(&self) -> Vec<(f64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let n = b.load(Relaxed);
                (n > 0).then(|| ((Self::upper_ms(i) * 1000.0).round() / 1000.0, n))
            })
            .collect()
    }
}

/// Public view of a pool's state.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolView {
    pub idle: u32,
    /// Instances alive or starting.
    pub running: u32,
    /// Instances started and ready to serve (idle or busy).
    pub ready: u32,
    pub waiting: u32,
    /// Invocations this version ran, and how many of them failed (function
    /// errors, timeouts, crashes): what a canary is judged on.
    pub invocations: u64,
    pub errors: u64,
    /// Invocation durations: (bucket upper bound in ms, count), non-empty buckets.
    pub durations: Vec<(f64, u64)>,
}

/// One version's invocations, failures and durations (what a canary is judged on).
#[derive(Default)]
pub(crate) struct VersionCounters {
    invocations: AtomicU64,
    errors: AtomicU64,
    pub durations: Histogram,
}

impl VersionCounters {
    /// Counts one finished invocation.
    pub fn count(&self, duration_ms: f64, failed: bool) {
        inc(&self.invocations);
        if failed {
            inc(&self.errors);
        }
        self.durations.record(duration_ms);
    }

    /// Counts an invocation that failed before it ran (no instance would start).
    pub fn count_failure(&self) {
        inc(&self.invocations);
        inc(&self.errors);
    }

    pub fn invocations(&self) -> u64 {
        self.invocations.load(Relaxed)
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Relaxed)
    }
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

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_are_within_ten_percent() {
        let h = Histogram::default();
        for ms in [0.05, 1.0, 37.0, 250.0, 1e9] {
            h.record(ms);
        }
        let snap = h.snapshot();
        assert_eq!(snap.len(), 5);
        assert_eq!(snap[0].0, 0.1);
        let b = snap.iter().find(|(u, _)| *u >= 37.0).unwrap().0;
        assert!(b < 37.0 * 1.1, "{b}");
        let b = snap.iter().find(|(u, _)| *u >= 250.0).unwrap().0;
        assert!(b < 250.0 * 1.1, "{b}");
    }
}
