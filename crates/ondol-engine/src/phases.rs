//! A cold invocation broken into its phases: queue wait (for a slot to start an
//! instance in), process start (front opened, sandbox entered, exec), runtime
//! ready (until the runtime first reaches its Runtime API), handler init (until
//! its first `/next`: the function's code imported) and the invocation itself.
//! Recorded where the REPORT line is written; histograms per phase, atomics only.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde_json::{json, Value};

use crate::metrics::Histogram;

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

/// The node's cold starts, one histogram per phase.
#[derive(Default)]
pub struct ColdStartStats {
    count: AtomicU64,
    pub queue_wait: Histogram,
    pub process_start: Histogram,
    pub runtime_ready: Histogram,
    pub handler_init: Histogram,
    pub duration: Histogram,
    /// The latest cold start, in µs per phase (for a glance without a histogram).
    last_us: [AtomicU64; 5],
}

impl ColdStartStats {
    pub fn record(&self, c: &ColdStart) {
        self.count.fetch_add(1, Relaxed);
        let phases = [
            (&self.queue_wait, c.queue_wait_ms),
            (&self.process_start, c.process_start_ms),
            (&self.runtime_ready, c.runtime_ready_ms),
            (&self.handler_init, c.handler_init_ms),
            (&self.duration, c.duration_ms),
        ];
        for (i, (h, v)) in phases.into_iter().enumerate() {
            h.record(v);
            self.last_us[i].store((v * 1000.0) as u64, Relaxed);
        }
    }

    /// Cold starts recorded so far.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// `{count, last: {phase: ms}, histograms: {phase: [[upper_ms, n]]}}`.
    pub fn snapshot(&self) -> Value {
        let names = [
            "queue_wait_ms",
            "process_start_ms",
            "runtime_ready_ms",
            "handler_init_ms",
            "duration_ms",
        ];
        let hists = [
            &self.queue_wait,
            &self.process_start,
            &self.runtime_ready,
            &self.handler_init,
            &self.duration,
        ];
        let last: serde_json::Map<String, Value> = names
            .iter()
            .zip(&self.last_us)
            .map(|(n, v)| (n.to_string(), json!(v.load(Relaxed) as f64 / 1000.0)))
            .collect();
        let histograms: serde_json::Map<String, Value> = names
            .iter()
            .zip(hists)
            .map(|(n, h)| (n.to_string(), json!(h.snapshot())))
            .collect();
        json!({ "count": self.count(), "last": last, "histograms": histograms })
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
        assert!(log_line(&cold_start(0.5, init, 7.25), "r").contains("Handler Init: 100.00 ms"));
    }
}
