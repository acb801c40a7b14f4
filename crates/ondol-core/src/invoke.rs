//! What an invocation carries in and what comes back out.

use bytes::Bytes;
use thiserror::Error;

/// One synchronous invocation as the engine receives it.
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    pub payload: Bytes,
    /// Decoded client context JSON (from `X-Amz-Client-Context`).
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub trace_id: Option<String>,
    /// The ARN as the caller invoked it, passed to the runtime.
    pub invoked_arn: String,
    /// Collect the invocation's log for `X-Amz-Log-Type: Tail`.
    pub want_log_tail: bool,
    /// Reuse a request id (async retries); a new uuid otherwise.
    pub request_id: Option<String>,
}

/// A function-side failure: the caller gets 200 with `X-Amz-Function-Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// `errorType` (`Runtime.ExitError`, `Sandbox.Timedout`, the exception class ...).
    pub error_type: String,
    /// The JSON body returned to the caller.
    pub body: Bytes,
    /// What happened, typed, for callers that explain or classify it.
    pub cause: Cause,
}

/// Why an invocation failed, as the platform saw it: the front door picks its
/// status and words from this, never from `error_type`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cause {
    /// The function's own error (an exception raised or an error returned).
    #[default]
    Handler,
    /// The runtime reported that its init failed (import error, bad handler).
    Init,
    /// Ran past its limit; `init`: while starting.
    Timeout { limit_ms: u64, init: bool },
    /// The process ended (`exit status 1`, `signal: killed`); `init`: while starting.
    Exited { how: String, init: bool },
    /// A web app never answered its readiness path on the port it was given.
    NotListening {
        port: u16,
        path: String,
        limit_ms: u64,
    },
    /// Killed over its memory limit.
    OutOfMemory { memory_mb: u32 },
    /// The response was over the limit; `size` when it was counted.
    ResponseTooLarge { size: Option<u64>, limit: u64 },
    /// Anything else the platform produced (a broken upload or stream).
    Platform,
}

impl FunctionError {
    /// A platform-produced error body `{"errorType","errorMessage"}`.
    pub fn platform(error_type: &str, message: String) -> Self {
        let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
        Self {
            error_type: error_type.to_string(),
            body: Bytes::from(body.to_string()),
            cause: Cause::Platform,
        }
    }

    /// The same error with its cause named.
    pub fn because(mut self, cause: Cause) -> Self {
        self.cause = cause;
        self
    }

    /// The body's `errorMessage` (empty when it has none).
    pub fn message(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// One cold invocation's phases, in milliseconds: the wait for a slot to start an
/// instance in, the process start, until the runtime first reaches its Runtime
/// API, until its first `/next` (the handler imported), and the invocation.
/// Process start, runtime ready and handler init add up to `Init Duration`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ColdStart {
    pub queue_wait_ms: f64,
    pub process_start_ms: f64,
    pub runtime_ready_ms: f64,
    pub handler_init_ms: f64,
    pub duration_ms: f64,
}

/// The result of an invocation that ran (or tried to run) the function.
#[derive(Debug, Clone)]
pub struct InvokeOutcome {
    pub request_id: String,
    pub executed_version: String,
    pub result: Result<Bytes, FunctionError>,
    /// The last 4 KB of the invocation's log, when asked for.
    pub log_tail: Option<String>,
    pub cold_start: bool,
    pub duration_ms: f64,
    /// A cold invocation's phases (`None` when warm or when no instance started).
    pub phases: Option<ColdStart>,
}

/// Why an invocation did not reach the function. Each names the limit it hit.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum InvokeError {
    /// Function not found: {0}
    #[error("Function not found: {0}")]
    NotFound(String),
    /// Throttled at a limit; `reason` is Lambda's `Reason` field.
    #[error("{message}")]
    Throttled {
        reason: &'static str,
        message: String,
    },
    /// The request payload exceeds the function's limit.
    #[error("Request payload of {size} bytes exceeds the limit of {limit} bytes for function '{function}'; raise it with the function's max_request_bytes")]
    RequestTooLarge {
        size: u64,
        limit: u64,
        function: String,
    },
    /// A web function is reached over HTTP, or a Lambda function by Invoke.
    #[error("{0}")]
    WrongMode(String),
    /// The server is draining.
    #[error("ondol is shutting down and accepts no new invocations")]
    ShuttingDown,
}
