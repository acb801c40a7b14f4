//! The platform's log lines, exactly as Lambda writes them.

use chrono::{SecondsFormat, Utc};

pub(crate) fn start(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}")
}

/// The first line of an instance's init: what runs it (`python:3.11.7`).
pub(crate) fn init_start(runtime_version: &str) -> String {
    format!("INIT_START Runtime Version: {runtime_version}")
}

pub(crate) fn end(request_id: &str) -> String {
    format!("END RequestId: {request_id}")
}

/// Lambda's Billed Duration: whole milliseconds, rounded up, at least 1.
pub(crate) fn billed_ms(duration_ms: f64) -> u64 {
    duration_ms.ceil().max(1.0) as u64
}

/// `REPORT` with tab separators; `Init Duration` only on a cold start.
pub(crate) fn report(
    request_id: &str,
    duration_ms: f64,
    memory_mb: u32,
    max_used_mb: u64,
    init_ms: Option<f64>,
) -> String {
    let billed = billed_ms(duration_ms);
    let mut s = format!(
        "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {max_used_mb} MB\t"
    );
    if let Some(init) = init_ms {
        s.push_str(&format!("Init Duration: {init:.2} ms\t"));
    }
    s
}

pub(crate) fn timed_out(request_id: &str, timeout_ms: u64) -> String {
    format!(
        "{} {request_id} Task timed out after {:.2} seconds",
        Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        timeout_ms as f64 / 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_format() {
        assert_eq!(
            report("id", 12.341, 128, 28, Some(170.571)),
            "REPORT RequestId: id\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 28 MB\tInit Duration: 170.57 ms\t"
        );
        assert!(!report("id", 1.0, 128, 1, None).contains("Init"));
        assert!(report("id", 0.2, 128, 1, None).contains("Billed Duration: 1 ms"));
    }
}
