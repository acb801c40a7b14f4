//! Invoke (`POST /2015-03-31/functions/{fn}/invocations`) and
//! InvokeWithResponseStream. Function errors are 200 with `X-Amz-Function-Error:
//! Unhandled`; platform refusals are AWS-shaped errors.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use ondol_core::{InvokeOutcome, InvokeRequest};
use ondol_engine::Run;

use crate::error::{ApiError, Result};
use crate::eventstream;

use crate::Api;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn too_large(name: &str, limit: u64, event: bool) -> ApiError {
    let fix = if event {
        "the node's async payload limit; raise it with --async-max-payload".to_string()
    } else {
        format!(
            "function '{name}' has max_request_bytes={limit}; raise it to accept larger payloads"
        )
    };
    ApiError::RequestTooLarge(format!(
        "Request must be smaller than {limit} bytes for the InvokeFunction operation: {fix}"
    ))
}

/// 202: the event is durably queued.
fn accepted(request_id: &str) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-RequestId", v);
    }
    r
}

/// A validated invocation: the function, the version it runs, the request.
struct Prepared {
    name: String,
    version: String,
    req: InvokeRequest,
}

enum Kind {
    Run(Box<Prepared>),
    DryRun,
    /// Accepted for async delivery under this request id.
    Queued(String),
}

async fn prepare(
    api: &Api,
    path_name: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
    stream: bool,
) -> Result<Kind> {
    let (name, qual) = crate::names::here(
        api.engine.arn(),
        path_name,
        q.get("Qualifier").map(String::as_str),
    )?;
    let version = api
        .engine
        .pick(&name, qual.as_deref())
        .ok_or_else(|| api.not_found(&name, Some(qual.as_deref().unwrap_or("$LATEST"))))?;
    let limit = api
        .engine
        .request_limit(&name, &version)
        .ok_or_else(|| api.not_found(&name, qual.as_deref()))?;
    let kind = header(headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    let limit = match kind {
        "RequestResponse" => limit,
        "DryRun" => return Ok(Kind::DryRun),
        "Event" if !stream => api.events.config().max_payload,
        other => {
            return Err(ApiError::InvalidParameter(format!(
                "InvocationType '{other}' is invalid here: use RequestResponse, Event or DryRun"
            )))
        }
    };
    if crate::body_cap::declared_length(headers).is_some_and(|n| n > limit) {
        return Err(too_large(&name, limit, kind == "Event"));
    }
    let payload = Limited::new(body, limit as usize)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large(&name, limit, kind == "Event")
            } else {
                ApiError::InvalidRequestContent(format!("Could not read the request body: {e}"))
            }
        })?
        .to_bytes();
    if kind == "Event" {
        let events = api.events.clone();
        let request_id = tokio::task::spawn_blocking(move || {
            events.enqueue(&name, qual.as_deref(), payload.to_vec(), None)
        })
        .await
        .map_err(|e| ApiError::Service(e.to_string()))?
        .map_err(|e| match e {
            e @ ondol_events::EnqueueError::TooLarge { .. } => {
                ApiError::RequestTooLarge(e.to_string())
            }
            e => ApiError::Service(e.to_string()),
        })?;
        return Ok(Kind::Queued(request_id));
    }
    let client_context = match header(headers, "x-amz-client-context") {
        None => None,
        Some(b64) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .filter(|raw| serde_json::from_slice::<serde_json::Value>(raw).is_ok())
                .ok_or_else(|| {
                    ApiError::InvalidParameter(
                        "Client context must be a valid Base64-encoded JSON object.".into(),
                    )
                })?;
            Some(String::from_utf8_lossy(&raw).into_owned())
        }
    };
    let req = InvokeRequest {
        payload,
        client_context,
        cognito_identity: None,
        trace_id: header(headers, "x-amzn-trace-id").map(str::to_string),
        invoked_arn: api.engine.arn().qualified(&name, qual.as_deref()),
        want_log_tail: header(headers, "x-amz-log-type") == Some("Tail"),
        request_id: None,
    };
    Ok(Kind::Run(Box::new(Prepared { name, version, req })))
}

/// The invocation's own request id (as in its log lines) and the version that ran.
fn common_headers(resp: &mut Response, request_id: &str, version: &str) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    if let Ok(v) = HeaderValue::from_str(version) {
        h.insert("X-Amz-Executed-Version", v);
    }
}

fn tail_b64(out: &InvokeOutcome) -> Option<String> {
    out.log_tail
        .as_ref()
        .map(|t| base64::engine::general_purpose::STANDARD.encode(t))
}

pub async fn invoke(
    State(api): State<Arc<Api>>,
    Path(path_name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let p = match prepare(&api, &path_name, &q, &headers, body, false).await? {
        Kind::DryRun => return Ok(StatusCode::NO_CONTENT.into_response()),
        Kind::Queued(id) => return Ok(accepted(&id)),
        Kind::Run(p) => p,
    };
    let out = api.engine.invoke(&p.name, &p.version, p.req).await?;
    let tail = tail_b64(&out);
    let (body, error) = match &out.result {
        Ok(b) => (b.clone(), false),
        Err(e) => (e.body.clone(), true),
    };
    let mut resp = Response::new(Body::from(body));
    common_headers(&mut resp, &out.request_id, &out.executed_version);
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if error {
        h.insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if let Some(v) = tail.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert("X-Amz-Log-Result", v);
    }
    Ok(resp)
}

/// InvokeWithResponseStream: the result as `PayloadChunk` events (one per chunk the
/// runtime sends, as it sends them), then `InvokeComplete` (with
/// `ErrorCode`/`ErrorDetails` on a function error).
pub async fn invoke_stream(
    State(api): State<Arc<Api>>,
    Path(path_name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let p = match prepare(&api, &path_name, &q, &headers, body, true).await? {
        Kind::DryRun => return Ok(StatusCode::NO_CONTENT.into_response()),
        Kind::Queued(id) => return Ok(accepted(&id)),
        Kind::Run(p) => p,
    };
    let (request_id, version, events) =
        match api.engine.invoke_stream(&p.name, &p.version, p.req).await? {
            Run::Done(out) => {
                let mut complete = serde_json::Map::new();
                let mut frames = Vec::new();
                match &out.result {
                    Ok(b) => frames.push(eventstream::event(
                        "PayloadChunk",
                        "application/octet-stream",
                        b,
                    )),
                    Err(e) => {
                        complete.insert("ErrorCode".into(), e.error_type.clone().into());
                        complete.insert(
                            "ErrorDetails".into(),
                            String::from_utf8_lossy(&e.body).into_owned().into(),
                        );
                    }
                }
                if let Some(t) = tail_b64(&out) {
                    complete.insert("LogResult".into(), t.into());
                }
                let done = serde_json::Value::Object(complete).to_string();
                frames.push(eventstream::event(
                    "InvokeComplete",
                    "application/json",
                    done.as_bytes(),
                ));
                (
                    out.request_id,
                    out.executed_version,
                    Body::from(frames.concat()),
                )
            }
            Run::Streaming(s) => (
                s.request_id,
                s.executed_version,
                Body::new(eventstream::Events::new(s.body)),
            ),
        };
    let mut resp = Response::new(events);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    if let Ok(v) = HeaderValue::from_str(&version) {
        h.insert("X-Amz-Executed-Version", v);
    }
    h.insert(
        "content-type",
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    Ok(resp)
}
