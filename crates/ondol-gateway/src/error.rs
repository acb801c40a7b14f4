//! The front door's one error type and the one place it becomes an answer: API
//! Gateway's status and `{"message"}` body, an `x-ondol-error` header with the
//! type, the cause in plain words when errors are exposed, and one log line.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode};
use ondol_core::{Cause, FunctionError, InvokeError};

/// Why a request got no answer from its function. The `Display` text is the
/// cause in plain words: the log line's, and the exposed body's.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the request path is malformed")]
    BadPath,
    #[error("no route matches {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("this function URL requires AWS_IAM auth, which ondol's front door does not verify; use AuthType NONE")]
    IamUnsupported,
    #[error("the route's rate_limit is exceeded; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("the request body is over the {} limit; raise [http].max_request_body in ondol.toml", size(.limit))]
    BodyTooLarge { limit: u64 },
    #[error("the request body was not received in time")]
    BodyStalled,
    #[error("the route points at function {0}, which does not exist")]
    NoFunction(String),
    /// Refused before reaching the function; `route`: an API route (not a URL).
    #[error("{}", refused(.error))]
    Refused { error: InvokeError, route: bool },
    /// The route's own timeout, or a web app's response head not in time.
    #[error("timed out after {} (the {what} timeout; raise `timeout` in ondol.toml)", secs(.limit))]
    Timeout { limit: Duration, what: &'static str },
    #[error("{}", failure(.0))]
    Function(FunctionError),
    #[error("the function's response is malformed: {0}")]
    BadResponse(String),
    #[error("the function failed before its stream began: {0}")]
    StreamFailed(String),
    #[error("the web app did not answer: {0}")]
    Unreachable(String),
    /// The route's authorizer refused the request.
    #[error("{0}")]
    Auth(crate::auth::Refusal),
    /// The route needs an API key, and this one is missing, unknown or over its plan.
    #[error("{0}")]
    Key(crate::keys::Refused),
}

/// How errors are answered: with their cause (`ondol dev`, `up`) or as API Gateway does.
#[derive(Debug, Clone, Copy)]
pub struct Exposure(pub bool);

impl GatewayError {
    /// The `x-ondol-error` type name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadPath => "BadRequest",
            Self::RouteNotFound { .. } => "RouteNotFound",
            Self::IamUnsupported => "AuthNotSupported",
            Self::RateLimited { .. } => "RateLimited",
            Self::BodyTooLarge { .. } => "PayloadTooLarge",
            Self::BodyStalled => "RequestTimeout",
            Self::NoFunction(_) => "FunctionNotFound",
            Self::Refused { error, .. } => match error {
                InvokeError::Throttled { .. } => "Throttled",
                InvokeError::RequestTooLarge { .. } => "PayloadTooLarge",
                InvokeError::ShuttingDown => "ShuttingDown",
                InvokeError::NotFound(_) => "FunctionNotFound",
                InvokeError::WrongMode(_) => "WrongMode",
            },
            Self::Timeout { .. } => "Timeout",
            Self::Function(e) => match &e.cause {
                Cause::Handler => "FunctionError",
                Cause::Init | Cause::Exited { init: true, .. } => "InitFailed",
                Cause::Timeout { .. } => "Timeout",
                Cause::Exited { .. } => "Crashed",
                Cause::NotListening { .. } => "NotListening",
                Cause::OutOfMemory { .. } => "OutOfMemory",
                Cause::ResponseTooLarge { .. } => "ResponseTooLarge",
                Cause::Platform => "RuntimeError",
            },
            Self::BadResponse(_) => "BadFunctionResponse",
            Self::StreamFailed(_) => "StreamFailed",
            Self::Unreachable(_) => "Unreachable",
            Self::Auth(r) => match r {
                crate::auth::Refusal::Unauthorized(_) => "Unauthorized",
                crate::auth::Refusal::Forbidden(_) => "Forbidden",
                crate::auth::Refusal::Failed => "AuthorizerFailed",
            },
            Self::Key(r) => match r {
                crate::keys::Refused::Forbidden => "ApiKeyRefused",
                crate::keys::Refused::Throttled(_) => "KeyThrottled",
                crate::keys::Refused::OverQuota(_) => "QuotaExceeded",
            },
        }
    }

    /// API Gateway's status and `message` for it (what production clients see).
    fn status(&self) -> (StatusCode, String) {
        let ise = (StatusCode::BAD_GATEWAY, "Internal Server Error".to_string());
        let timed_out = (
            StatusCode::GATEWAY_TIMEOUT,
            "Endpoint request timed out".to_string(),
        );
        match self {
            Self::BadPath => (StatusCode::BAD_REQUEST, "Bad Request".into()),
            Self::RouteNotFound { .. } => (StatusCode::NOT_FOUND, "Not Found".into()),
            Self::IamUnsupported => (StatusCode::FORBIDDEN, format!("Forbidden: {self}")),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests".into()),
            Self::BodyTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body exceeds the limit of {limit} bytes; raise [http].max_request_body in ondol.toml"),
            ),
            Self::BodyStalled => (
                StatusCode::REQUEST_TIMEOUT,
                "Request body not received in time".into(),
            ),
            Self::NoFunction(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error".into()),
            Self::Refused { error, route } => refused_status(error, *route),
            Self::Timeout { .. } => timed_out,
            Self::Function(e) if matches!(e.cause, Cause::Timeout { .. }) => timed_out,
            Self::Function(_) | Self::BadResponse(_) | Self::StreamFailed(_) | Self::Unreachable(_) => ise,
            Self::Auth(r) => {
                let (status, message) = r.status();
                (status, message.into())
            }
            Self::Key(r) => {
                let (status, message, _) = r.status();
                (status, message.into())
            }
        }
    }

    /// The answer, and the one log line saying what happened and to which request.
    pub fn respond(&self, expose: Exposure, request_id: &str, function: Option<&str>) -> Response {
        let (status, message) = self.status();
        let kind = self.kind();
        let function = function.unwrap_or("-");
        let cause = self.to_string();
        if status.is_server_error() && !self.is_load() {
            tracing::error!(%function, %request_id, error = %kind, %cause, "request failed");
        } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            tracing::warn!(%function, %request_id, error = %kind, %cause, "request refused");
        } else {
            tracing::info!(%function, %request_id, error = %kind, %cause, "request refused");
        }
        let mut body = serde_json::json!({ "message": message });
        if expose.0 {
            body["errorType"] = kind.into();
            body["cause"] = cause.into();
            body["requestId"] = request_id.into();
        }
        let mut r = Response::new(Body::from(body.to_string()));
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("x-ondol-error", HeaderValue::from_static(kind));
        if let Some(wait) = self.retry_after() {
            h.insert("retry-after", wait.into());
        }
        if let Some(v) = self.challenge() {
            h.insert("www-authenticate", v);
        }
        r
    }

    fn challenge(&self) -> Option<HeaderValue> {
        match self {
            Self::Auth(r) => r.challenge().and_then(|v| HeaderValue::from_str(&v).ok()),
            _ => None,
        }
    }

    /// Load, a drain or a deadline, rather than a fault: logged as a warning.
    fn is_load(&self) -> bool {
        matches!(
            self,
            Self::Refused { .. } | Self::Timeout { .. } | Self::RateLimited { .. } | Self::Key(_)
        ) || matches!(self, Self::Function(e) if matches!(e.cause, Cause::Timeout { .. }))
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            Self::Key(r) => r.status().2,
            Self::Refused {
                error: InvokeError::Throttled { .. },
                ..
            } => Some(1),
            _ => None,
        }
    }
}

/// What AWS answers for a refused Lambda: a throttled HTTP API route 503, a
/// throttled Function URL 429 with Lambda's own words.
fn refused_status(e: &InvokeError, route: bool) -> (StatusCode, String) {
    match e {
        InvokeError::Throttled { .. } if route => {
            (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable".into())
        }
        InvokeError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded.".into()),
        InvokeError::RequestTooLarge { limit, .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request exceeds the function's limit of {limit} bytes; raise its max_request_bytes"),
        ),
        InvokeError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable".into()),
        InvokeError::NotFound(_) | InvokeError::WrongMode(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error".into())
        }
    }
}

fn refused(e: &InvokeError) -> String {
    match e {
        InvokeError::Throttled { reason, message } => {
            format!("function throttled ({reason}): {message}")
        }
        other => other.to_string(),
    }
}

/// A function failure in plain words, from its typed cause.
fn failure(e: &FunctionError) -> String {
    let said = e.message();
    match &e.cause {
        Cause::Handler => format!("the function returned an error: {}: {said}", e.error_type),
        Cause::Init => format!("init failed: {}: {said}", e.error_type),
        Cause::Timeout { limit_ms, init: false } => format!(
            "timed out after {} (the function's timeout; raise `timeout` in ondol.toml)",
            secs(&Duration::from_millis(*limit_ms))
        ),
        Cause::Timeout { limit_ms, init: true } => format!(
            "init timed out after {} (raise `init_timeout` in ondol.toml): {said}",
            secs(&Duration::from_millis(*limit_ms))
        ),
        Cause::Exited { how, init: false } => format!("function crashed: {how}"),
        Cause::Exited { how, init: true } => format!("init failed: the runtime exited ({how})"),
        Cause::NotListening { port, path, limit_ms } => format!(
            "the web app never answered GET {path} on port {port} within {}: it was given PORT={port} and must listen on that port",
            secs(&Duration::from_millis(*limit_ms))
        ),
        Cause::OutOfMemory { memory_mb } => format!(
            "function ran out of memory: over memory_mb = {memory_mb}; raise `memory_mb` in ondol.toml"
        ),
        Cause::ResponseTooLarge { size, limit } => format!(
            "response{} is over the {} limit (raise it with `max_response_bytes` in ondol.toml)",
            size.map(|s| format!(" of {}", self::size(&s)))
                .unwrap_or_default(),
            self::size(limit)
        ),
        Cause::Platform => format!("{}: {said}", e.error_type),
    }
}

/// `3 s`, `1.5 s`, `250 ms`.
fn secs(d: &Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `6 MB`, `7.2 MB`, `512 KB`, `100 bytes` (binary units, as the limits are).
fn size(n: &u64) -> String {
    let n = *n;
    const KB: u64 = 1024;
    const MB: u64 = 1024 * 1024;
    let (v, unit) = match n {
        n if n >= MB => (n as f64 / MB as f64, "MB"),
        n if n >= KB => (n as f64 / KB as f64, "KB"),
        n => return format!("{n} bytes"),
    };
    let s = format!("{v:.1}");
    format!("{} {unit}", s.strip_suffix(".0").unwrap_or(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_plainly() {
        assert_eq!(size(&(6 * 1024 * 1024)), "6 MB");
        assert_eq!(size(&7_549_747), "7.2 MB");
        assert_eq!(size(&100), "100 bytes");
        assert_eq!(secs(&Duration::from_secs(3)), "3 s");
        assert_eq!(secs(&Duration::from_millis(250)), "250 ms");
    }

    #[test]
    fn a_timeout_is_classified_by_its_cause_not_its_name() {
        let e = FunctionError::platform("Custom.Timedout", "x".into()).because(Cause::Timeout {
            limit_ms: 3000,
            init: false,
        });
        let r = GatewayError::Function(e).respond(Exposure(false), "rid", None);
        assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(r.headers()["x-ondol-error"], "Timeout");
        let e = FunctionError::platform("Sandbox.Timedout", "y".into());
        let r = GatewayError::Function(e).respond(Exposure(false), "rid", None);
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    }

    #[test]
    fn exposed_bodies_keep_the_message() {
        let e = FunctionError::platform("Function.ResponseSizeTooLarge", "m".into()).because(
            Cause::ResponseTooLarge {
                size: Some(7_549_747),
                limit: 6 * 1024 * 1024,
            },
        );
        let text = GatewayError::Function(e).to_string();
        assert!(text.contains("7.2 MB is over the 6 MB limit"), "{text}");
        assert!(text.contains("max_response_bytes"), "{text}");
    }
}
