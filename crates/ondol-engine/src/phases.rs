//! A cold invocation broken into its phases: queue wait (for a slot to start an
//! instance in), process start (front opened, sandbox entered, exec), runtime
//! ready (until the runtime first reaches its Runtime API), handler init (until
//! its first `/next`: the function's code imported) and the invocation itself.
//! Recorded where the REPORT line is written; a histogram of seconds per phase
//! (the same lock-free kind `/metrics` exports), atomics only.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use ondol_core::stats::{Seconds, Snapshot};
use serde_json::{json, Map, Value};

pub use ondol_core::ColdStart;

/// The init's share of the phases, measured when an instance became ready.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct InitPhases {
    pub process_start_ms: f64,
    pub runtime_ready_ms: f64,
    pub handler_init_ms: f64,
}

fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

impl InitPhases {
    /// `contact`: when the runtime first reached its front; unknown (web mode),
    /// the whole wait after the spawn counts as the runtime's.
    pub fn measure(
        begun: Instant,
        spawned: Instant,
        contact: Option<Instant>,
        ready: Instant,
    ) -> Self {
        let contact = contact.unwrap_or(ready).clamp(spawned, ready);
        Self {
            process_start_ms: ms(begun, spawned),
            runtime_ready_ms: ms(spawned, contact),
            handler_init_ms: ms(contact, ready),
        }
    }
}

/// A cold invocation's phases from its init's and its own.
pub(crate) fn cold_start(queue_wait_ms: f64, init: InitPhases, duration_ms: f64) -> ColdStart {
    ColdStart {
        queue_wait_ms,
        process_start_ms: init.process_start_ms,
        runtime_ready_ms: init.runtime_ready_ms,
        handler_init_ms: init.handler_init_ms,
        duration_ms,
    }
}

/// The log line written after a cold invocation's REPORT.
pub(crate) fn log_line(c: &ColdStart, request_id: &str) -> String {
    format!(
        "ONDOL_COLD_START RequestId: {request_id}\tQueue Wait: {:.2} ms\tProcess Start: {:.2} ms\tRuntime Ready: {:.2} ms\tHandler Init: {:.2} ms\tDuration: {:.2} ms",
        c.queue_wait_ms, c.process_start_ms, c.runtime_ready_ms, c.handler_init_ms, c.duration_ms
    )
}

/// The phases' names, as the metrics label them (`phase`) and in this order.
pub const PHASES: [&str; 5] = [
    "queue_wait",
    "process_start",
    "runtime_ready",
    "init",
    "duration",
];

/// The node's cold starts, one histogram of seconds per phase (the order of
/// [`PHASES`]), bumped with atomic adds only.
pub struct ColdStartStats {
    count: AtomicU64,
    phases: [Seconds; 5],
    /// The latest cold start, in µs per phase (for a glance without a histogram).
    last_us: [AtomicU64; 5],
}

impl Default for ColdStartStats {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            // One bound set for all: a queue wait of 1 ms and an init of minutes
            // both land in a bucket of their own.
            phases: std::array::from_fn(|_| Seconds::durations()),
            last_us: Default::default(),
        }
    }
}

fn in_order(c: &ColdStart) -> [f64; 5] {
    [
        c.queue_wait_ms,
        c.process_start_ms,
        c.runtime_ready_ms,
        c.handler_init_ms,
        c.duration_ms,
    ]
}

impl ColdStartStats {
    pub fn record(&self, c: &ColdStart) {
        self.count.fetch_add(1, Relaxed);
        for (i, ms) in in_order(c).into_iter().enumerate() {
            self.phases[i].observe(ms / 1000.0);
            self.last_us[i].store((ms * 1000.0) as u64, Relaxed);
        }
    }

    /// Cold starts recorded so far.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Each phase's histogram, named as in [`PHASES`] (Prometheus' view).
    pub fn histograms(&self) -> Vec<(&'static str, Snapshot)> {
        PHASES
            .iter()
            .zip(&self.phases)
            .map(|(n, h)| (*n, h.snapshot()))
            .collect()
    }

    /// `{count, last: {phase_ms: ms}, sum_ms: {..}, histograms: {phase_ms:
    /// [[upper_ms, n]]}}`: the non-empty buckets, the last bound `null` (+Inf).
    pub fn snapshot(&self) -> Value {
        let key = |n: &str| match n {
            "init" => "handler_init_ms".to_string(),
            n => format!("{n}_ms"),
        };
        let last: Map<String, Value> = PHASES
            .iter()
            .zip(&self.last_us)
            .map(|(n, v)| (key(n), json!(v.load(Relaxed) as f64 / 1000.0)))
            .collect();
        let (mut sums, mut histograms) = (Map::new(), Map::new());
        for (n, s) in self.histograms() {
            sums.insert(key(n), json!(s.sum_seconds * 1000.0));
            let buckets: Vec<_> = s
                .buckets
                .iter()
                .filter(|(_, c)| *c > 0)
                .map(|(le, c)| (le.is_finite().then_some(le * 1000.0), *c))
                .collect();
            histograms.insert(key(n), json!(buckets));
        }
        json!({ "count": self.count(), "last": last, "sum_ms": sums, "histograms": histograms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn phases_add_up_to_the_init() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let p = InitPhases::measure(t0, at(3), Some(at(20)), at(120));
        assert_eq!(
            (p.process_start_ms, p.runtime_ready_ms, p.handler_init_ms),
            (3.0, 17.0, 100.0)
        );
        let p = InitPhases::measure(t0, at(3), None, at(50));
        assert_eq!((p.runtime_ready_ms, p.handler_init_ms), (47.0, 0.0));
    }

    #[test]
    fn records_and_shows_the_latest() {
        let s = ColdStartStats::default();
        let init = InitPhases {
            process_start_ms: 2.0,
            runtime_ready_ms: 20.0,
            handler_init_ms: 100.0,
        };
        s.record(&cold_start(0.5, init, 7.25));
        let v = s.snapshot();
        assert_eq!(v["count"], 1);
        assert_eq!(v["last"]["handler_init_ms"], 100.0);
        assert_eq!(v["histograms"]["handler_init_ms"], json!([[100.0, 1]]));
        assert_eq!(v["sum_ms"]["runtime_ready_ms"], 20.0);
        let h = s.histograms();
        assert_eq!(h[3].0, "init");
        assert_eq!((h[3].1.count, h[3].1.sum_seconds), (1, 0.1));
        assert!(log_line(&cold_start(0.5, init, 7.25), "r").contains("Handler Init: 100.00 ms"));
    }
}
