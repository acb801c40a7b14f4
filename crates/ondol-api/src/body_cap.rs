//! Request-size caps per operation, applied before anything else reads a body: a
//! `Content-Length` over the cap is refused at once (413, the connection is not
//! drained), and a chunked body is cut off at the cap. The operations then apply
//! their own, finer limits (a function's `max_request_bytes`, the zipped code size).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;
use http_body_util::Limited;

use crate::error::ApiError;

/// Largest request body an invocation may have, whatever a function's own
/// `max_request_bytes` says (the function's limit still applies below it).
pub const MAX_INVOKE_REQUEST_BYTES: u64 = ondol_core::config::MAX_PAYLOAD_BYTES;

/// Largest body of any other operation (apps, aliases, configuration...).
pub const MAX_OTHER_REQUEST_BYTES: u64 = 6 * 1024 * 1024;

/// The caps in force.
#[derive(Debug, Clone, Copy)]
pub struct BodyCaps {
    /// CreateFunction / UpdateFunctionCode / PublishLayerVersion: the zipped code,
    /// base64'd, plus its JSON.
    pub code: u64,
    pub invoke: u64,
    pub other: u64,
}

impl BodyCaps {
    /// AWS's own figure for a 50 MB zip is 69,905,067 bytes: 4/3 of it, rounded up.
    pub fn for_code_limit(max_code_bytes: u64) -> Self {
        Self {
            code: max_code_bytes.div_ceil(3) * 4 + 64 * 1024,
            invoke: MAX_INVOKE_REQUEST_BYTES,
            other: MAX_OTHER_REQUEST_BYTES,
        }
    }

    /// The cap for one request, and the operation it is named after in errors.
    pub fn of(&self, method: &Method, path: &str) -> (u64, &'static str) {
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        match (method, last) {
            (&Method::POST, "invocations") => (self.invoke, "InvokeFunction"),
            (&Method::POST, "response-streaming-invocations") => {
                (self.invoke, "InvokeWithResponseStream")
            }
            (&Method::POST, "functions") => (self.code, "CreateFunction"),
            (&Method::POST, "versions") if path.starts_with("/2018-10-31/layers/") => {
                (self.code, "PublishLayerVersion")
            }
            (&Method::PUT, "code") => (self.code, "UpdateFunctionCode"),
            _ => (self.other, "this"),
        }
    }
}

/// The body size a request declares in `Content-Length`, if any.
pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Middleware: refuses an oversized request before its body is read.
pub async fn enforce(State(caps): State<BodyCaps>, req: Request, next: Next) -> Response {
    let (cap, op) = caps.of(req.method(), req.uri().path());
    if declared_length(req.headers()).is_some_and(|n| n > cap) {
        let mut resp = ApiError::RequestTooLarge(format!(
            "Request must be smaller than {cap} bytes for the {op} operation"
        ))
        .into_response();
        // The body is left unread: the connection cannot be reused.
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return resp;
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(Limited::new(body, cap as usize));
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_the_operation() {
        let c = BodyCaps::for_code_limit(50 * 1024 * 1024);
        assert_eq!(
            c.of(&Method::POST, "/2015-03-31/functions/f/invocations").1,
            "InvokeFunction"
        );
        assert_eq!(c.of(&Method::POST, "/2015-03-31/functions").0, c.code);
        assert_eq!(c.of(&Method::PUT, "/2015-03-31/functions/f/code").0, c.code);
        assert_eq!(c.of(&Method::PUT, "/ondol/v1/apps/a").0, c.other);
        assert_eq!(
            c.of(&Method::POST, "/2018-10-31/layers/deps/versions"),
            (c.code, "PublishLayerVersion")
        );
        assert_eq!(
            c.of(&Method::POST, "/2015-03-31/functions/f/versions").0,
            c.other
        );
        // AWS's limit for a 50 MB zip, plus room for the JSON around it.
        assert!(c.code >= 69_905_067);
    }
}
