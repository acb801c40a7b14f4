//! Function log records and the sink the engine writes them to.

use std::sync::Arc;

/// One captured log line, attributed to the request that produced it.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: i64,
    pub function: Arc<str>,
    pub version: Arc<str>,
    pub request_id: Option<Arc<str>>,
    pub instance: Arc<str>,
    pub line: String,
}

/// Where log records go. `emit` must never block: a full sink drops and counts.
pub trait LogSink: Send + Sync + 'static {
    fn emit(&self, record: LogRecord);
}

/// Discards everything; for tests and tools that don't keep logs.
pub struct NullSink;

impl LogSink for NullSink {
    fn emit(&self, _record: LogRecord) {}
}
