//! What a refused or failed-fast request is told: throttles at the concurrency
//! limit, the node memory budget or a full wait queue, and a crash loop's backoff.

use std::time::Duration;

use ondol_core::{FunctionError, InvokeError, Limits};

/// Why the wait ended: the queue was full, or no capacity came in time.
pub(crate) fn queue(limits: &Limits, queue_full: bool) -> String {
    if queue_full {
        format!(
            "the wait queue is full (queue_depth={})",
            limits.queue_depth
        )
    } else {
        format!(
            "no capacity freed within queue_wait={} ms",
            limits.queue_wait_ms
        )
    }
}

/// A function whose concurrency is 0 (reserved concurrency 0, Lambda's kill switch):
/// Lambda's exact words, which clients match (the log line says which function).
pub(crate) fn disabled(function: &str) -> InvokeError {
    tracing::debug!(%function, "throttled: concurrency limit is 0");
    InvokeError::Throttled {
        reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
        message: "Rate Exceeded.".into(),
    }
}

pub(crate) fn concurrency(function: &str, max: u32, queue: &str) -> InvokeError {
    InvokeError::Throttled {
        reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
        message: format!(
            "Rate Exceeded. Function '{function}' is at its concurrency limit (max_concurrency={max}) and {queue}."
        ),
    }
}

pub(crate) fn memory(queue: &str) -> InvokeError {
    InvokeError::Throttled {
        reason: "ConcurrentInvocationLimitExceeded",
        message: format!(
            "Rate Exceeded. The node's memory budget is in use by running instances and {queue}; raise --memory-budget or lower memory_mb."
        ),
    }
}

/// The last failure, said to be a crash loop backing off for `left`.
pub(crate) fn backing_off(
    last: Option<FunctionError>,
    failures: u32,
    left: Duration,
) -> FunctionError {
    let last = last.unwrap_or_else(|| {
        FunctionError::platform("Runtime.ExitError", "Runtime exited with error".into())
    });
    let mut body: serde_json::Value =
        serde_json::from_slice(&last.body).unwrap_or_else(|_| serde_json::json!({}));
    let msg = body["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    body["errorMessage"] = serde_json::Value::String(format!(
        "{msg} (crash loop: {failures} consecutive failures; the next start is in {} ms)",
        left.as_millis()
    ));
    FunctionError {
        error_type: last.error_type,
        body: body.to_string().into(),
        cause: last.cause,
    }
}
