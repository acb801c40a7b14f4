//! Telemetry: the function log store (a [`LogSink`] that never blocks the
//! invocation path, backed by its own SQLite file with retention and a size cap)
//! and its queries; billable usage in hourly rows (`usage`); and what it would cost
//! on AWS (`cost`).

pub mod cost;
mod logs;
mod usage;

pub use logs::{LogEntry, LogQuery, LogStore, LogStoreConfig};
pub use usage::{UsageRow, UsageStore};

/// Applies retention and the size cap now (the writer does it every minute).
#[doc(hidden)]
pub fn logs_trim_for_tests(path: &std::path::Path, cfg: &LogStoreConfig) {
    logs::trim_now(path, cfg).expect("trim");
}
