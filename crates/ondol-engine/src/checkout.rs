//! A checkout: one request's hold on an instance slot, from the pool's grant until
//! its response has been sent (buffered, streamed or proxied alike). Settling it,
//! explicitly or on drop, writes END/REPORT for a Lambda runtime's request, then
//! hands the instance back to its pool to count and release or discard.

use std::sync::Arc;
use std::time::Instant;

use ondol_core::FunctionError;

use crate::front::Death;
use crate::instance::Instance;
use crate::node::Inflight;
use crate::phases::{self, ColdStart, InitPhases};
use crate::report;

/// What a pool is told when a checkout ends.
pub(crate) struct Settled {
    pub request_id: Arc<str>,
    pub duration_ms: f64,
    /// A Lambda runtime's Billed Duration, as its REPORT line says it.
    pub billed_ms: Option<u64>,
    /// Counted as a failed invocation (a function error, a web 5xx, no answer).
    pub failed: bool,
    /// The instance can't serve any more.
    pub death: Option<Death>,
    /// A crash's error, noted for the crash-loop backoff.
    pub crash_error: Option<FunctionError>,
    /// A cold invocation's phases.
    pub cold_start: Option<ColdStart>,
    /// The init this request waited for (a cold start's), in ms.
    pub init_ms: Option<f64>,
    /// It held one of the pool's provisioned slots (to give back).
    pub provisioned: bool,
}

/// The pool an instance was checked out of (see `pool`).
pub(crate) trait Lender: Send + Sync {
    /// Counts a finished request, then releases its instance or, dead, discards it.
    fn settle(&self, inst: Arc<Instance>, settled: Settled);
}

/// How a request ended, when its path judged it (a buffered invocation).
pub(crate) struct Verdict {
    pub failed: bool,
    pub death: Option<Death>,
    pub crash_error: Option<FunctionError>,
}

pub(crate) struct Checkout {
    lender: Arc<dyn Lender>,
    inst: Arc<Instance>,
    pub request_id: Arc<str>,
    pub cold: bool,
    /// When the request reached the instance (the REPORT duration starts here).
    pub begun: Instant,
    init: Option<(f64, InitPhases)>,
    /// How long the request waited for its instance slot.
    pub queue_wait_ms: f64,
    /// Ran within `min_warm`: billed at the provisioned duration price.
    pub provisioned: bool,
    /// `Some(memory_mb)`: a Lambda runtime's request, with END and REPORT.
    report: Option<u32>,
    /// Counted as a failed invocation when it ends.
    pub failed: bool,
    /// Kills a streaming instance that outlives its timeout.
    pub watchdog: Option<tokio::task::AbortHandle>,
    settled: bool,
    _inflight: Inflight,
}

impl Checkout {
    /// `report`: the function's `memory_mb` when END/REPORT are to be written.
    pub fn new(
        lender: Arc<dyn Lender>,
        inst: Arc<Instance>,
        request_id: Arc<str>,
        cold: bool,
        report: Option<u32>,
        inflight: Inflight,
    ) -> Self {
        // Only the request that waited for the init reports its duration.
        let init = if cold { inst.take_init() } else { None };
        Self {
            lender,
            inst,
            request_id,
            cold,
            begun: Instant::now(),
            init,
            queue_wait_ms: 0.0,
            provisioned: false,
            report,
            failed: false,
            watchdog: None,
            settled: false,
            _inflight: inflight,
        }
    }

    /// A cold request's phases, given its duration (`None` when warm).
    pub fn cold_start(&self, duration_ms: f64) -> Option<ColdStart> {
        let (_, init) = self.init?;
        Some(phases::cold_start(self.queue_wait_ms, init, duration_ms))
    }

    pub fn instance(&self) -> &Arc<Instance> {
        &self.inst
    }

    /// Ends a request its path judged; returns its duration and log tail.
    pub fn finish(mut self, verdict: Verdict) -> (f64, Option<String>) {
        self.failed |= verdict.failed;
        self.settle(Some(verdict))
    }

    /// Writes END/REPORT and gives the instance back, once. Without a verdict,
    /// an instance found dead crashed during the request.
    fn settle(&mut self, verdict: Option<Verdict>) -> (f64, Option<String>) {
        if std::mem::replace(&mut self.settled, true) {
            return (0.0, None);
        }
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        let ms = self.begun.elapsed().as_secs_f64() * 1000.0;
        let mut tail = None;
        let mut billed_ms = None;
        let cold_start = self.cold_start(ms);
        if let Some(memory_mb) = self.report {
            billed_ms = Some(report::billed_ms(ms));
            let rid = &self.request_id;
            let peak = self.inst.mem.peak_mb();
            let init_ms = self.init.map(|(init_ms, _)| init_ms);
            let report = report::report(rid, ms, memory_mb, peak, init_ms);
            self.inst.capture.end_request(rid, report::end(rid), report);
            if let Some(c) = &cold_start {
                self.inst
                    .capture
                    .after_report(rid, phases::log_line(c, rid));
            }
            // Before the instance goes back: its next request resets the tail.
            tail = self.inst.capture.finish();
        }
        let verdict = verdict.unwrap_or_else(|| Verdict {
            failed: false,
            death: (!self.inst.is_alive()).then_some(Death::Crash),
            crash_error: None,
        });
        let settled = Settled {
            request_id: self.request_id.clone(),
            duration_ms: ms,
            billed_ms,
            failed: self.failed || verdict.death.is_some(),
            death: verdict.death,
            crash_error: verdict.crash_error,
            cold_start,
            init_ms: self.init.map(|(ms, _)| ms),
            provisioned: self.provisioned,
        };
        self.lender.settle(self.inst.clone(), settled);
        (ms, tail)
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        self.settle(None);
    }
}
