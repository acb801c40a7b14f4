//! Engine counters, cheap to bump from the invocation path: the node's, and each
//! version's (with its pool's public view).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use ondol_core::stats::{self, Seconds};
use serde_json::{json, Value};

use ondol_core::status::Summary;

use crate::window::{Event, Window};

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
    /// Instances still in their init.
    pub starting: u32,
    pub waiting: u32,
    /// Invocations this version ran, and how many of them failed (function
    /// errors, timeouts, crashes): what a canary is judged on.
    pub invocations: u64,
    pub errors: u64,
    /// Invocation durations: (bucket upper bound in ms, count), non-empty buckets.
    pub durations: Vec<(f64, u64)>,
}

/// How an invocation ended, as the metrics label it (`outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Error,
    Throttle,
    Timeout,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Self::Success, Self::Error, Self::Throttle, Self::Timeout];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Throttle => "throttle",
            Self::Timeout => "timeout",
        }
    }
}

/// Which limit refused a request (`reason`): the concurrency limit or the memory
/// budget after waiting `queue_wait`, or a full wait queue at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    MaxConcurrency,
    MemoryBudget,
    QueueFull,
}

impl ThrottleReason {
    pub const ALL: [ThrottleReason; 3] =
        [Self::MaxConcurrency, Self::MemoryBudget, Self::QueueFull];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxConcurrency => "max_concurrency",
            Self::MemoryBudget => "memory_budget",
            Self::QueueFull => "queue_full",
        }
    }
}

/// One version's counters: invocations by outcome, throttles by reason, cold
/// starts, histograms of seconds, the fine duration histogram a canary is judged
/// on, and the per-minute window `ondol status` reads. Atomic adds only.
pub struct VersionCounters {
    outcomes: [AtomicU64; 4],
    throttles: [AtomicU64; 3],
    cold_starts: AtomicU64,
    pub durations: Histogram,
    pub duration_seconds: Seconds,
    pub init_seconds: Seconds,
    pub queue_wait_seconds: Seconds,
    pub window: Window,
}

impl Default for VersionCounters {
    fn default() -> Self {
        Self {
            outcomes: Default::default(),
            throttles: Default::default(),
            cold_starts: AtomicU64::new(0),
            durations: Histogram::default(),
            duration_seconds: Seconds::durations(),
            init_seconds: Seconds::inits(),
            queue_wait_seconds: Seconds::durations(),
            window: Window::default(),
        }
    }
}

impl VersionCounters {
    /// Counts one finished invocation (`init_ms`: it waited for this cold start).
    pub fn count(&self, duration_ms: f64, init_ms: Option<f64>, outcome: Outcome) {
        inc(&self.outcomes[outcome as usize]);
        self.durations.record(duration_ms);
        self.duration_seconds.observe(duration_ms / 1000.0);
        if let Some(init) = init_ms {
            inc(&self.cold_starts);
            self.init_seconds.observe(init / 1000.0);
        }
        let failed = outcome != Outcome::Success;
        self.window.record(Event::Done {
            ms: duration_ms,
            init_ms,
            failed,
        });
    }

    /// Counts an invocation that failed before it ran (no instance would start).
    pub fn count_failure(&self) {
        inc(&self.outcomes[Outcome::Error as usize]);
        self.window.record(Event::Done {
            ms: 0.0,
            init_ms: None,
            failed: true,
        });
    }

    pub fn count_throttle(&self, reason: ThrottleReason) {
        inc(&self.outcomes[Outcome::Throttle as usize]);
        inc(&self.throttles[reason as usize]);
        self.window.record(Event::Throttled);
    }

    /// Invocations that ran or failed to start (throttles are not invocations).
    pub fn invocations(&self) -> u64 {
        self.outcome(Outcome::Success) + self.errors()
    }

    pub fn errors(&self) -> u64 {
        self.outcome(Outcome::Error) + self.outcome(Outcome::Timeout)
    }

    pub fn outcome(&self, o: Outcome) -> u64 {
        self.outcomes[o as usize].load(Relaxed)
    }

    pub fn throttles(&self, r: ThrottleReason) -> u64 {
        self.throttles[r as usize].load(Relaxed)
    }

    pub fn cold_starts(&self) -> u64 {
        self.cold_starts.load(Relaxed)
    }
}

/// One version's counters and pool, read at one moment (a scrape, a status).
#[derive(Debug, Clone)]
pub struct VersionSnapshot {
    pub function: String,
    pub version: String,
    pub outcomes: [(Outcome, u64); 4],
    pub throttles: [(ThrottleReason, u64); 3],
    /// Invocations that waited for an init.
    pub cold_starts: u64,
    pub duration: stats::Snapshot,
    pub init: stats::Snapshot,
    /// Requests that waited for capacity, and how long.
    pub queue_wait: stats::Snapshot,
    pub pool: PoolView,
    pub last_5m: Summary,
    pub last_hour: Summary,
}

impl VersionCounters {
    pub fn snapshot(&self, function: &str, version: &str, pool: PoolView) -> VersionSnapshot {
        VersionSnapshot {
            function: function.to_string(),
            version: version.to_string(),
            outcomes: Outcome::ALL.map(|o| (o, self.outcome(o))),
            throttles: ThrottleReason::ALL.map(|r| (r, self.throttles(r))),
            cold_starts: self.cold_starts(),
            duration: self.duration_seconds.snapshot(),
            init: self.init_seconds.snapshot(),
            queue_wait: self.queue_wait_seconds.snapshot(),
            pool,
            last_5m: self.window.summary(5),
            last_hour: self.window.summary(60),
        }
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
