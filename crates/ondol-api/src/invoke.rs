//! Invoke: `POST /2015-03-31/functions/{fn}/invocations`. Function errors are 200
//! with `X-Amz-Function-Error: Unhandled`; platform refusals are AWS-shaped errors.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use ondol_core::InvokeRequest;

use crate::error::{ApiError, Result};
use crate::names::{latest_only, resolve};
use crate::Api;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn too_large(name: &str, limit: u64) -> ApiError {
    ApiError::RequestTooLarge(format!(
        "Request must be smaller than {limit} bytes for the InvokeFunction operation: function '{name}' has max_request_bytes={limit}; raise it to accept larger payloads"
    ))
}

pub async fn invoke(
    State(api): State<Arc<Api>>,
    Path(path_name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let (name, qual) = resolve(&path_name, q.get("Qualifier").map(String::as_str))?;
    let arn = api.engine.arn();
    latest_only(&name, qual.as_deref(), arn)?;
    let version = "$LATEST";
    let not_found = || {
        ApiError::NotFound(format!(
            "Function not found: {}",
            arn.qualified(&name, qual.as_deref())
        ))
    };
    let limit = api
        .engine
        .request_limit(&name, version)
        .ok_or_else(not_found)?;

    match header(&headers, "x-amz-invocation-type").unwrap_or("RequestResponse") {
        "RequestResponse" => {}
        "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
        "Event" => {
            return Err(ApiError::InvalidParameter(
                "InvocationType 'Event' is not available on this server yet; use RequestResponse"
                    .into(),
            ))
        }
        other => {
            return Err(ApiError::InvalidParameter(format!(
                "InvocationType '{other}' is invalid: use RequestResponse, Event or DryRun"
            )))
        }
    }
    if header(&headers, "content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit)
    {
        return Err(too_large(&name, limit));
    }
    let payload = Limited::new(body, limit as usize)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large(&name, limit)
            } else {
                ApiError::InvalidRequestContent(format!("Could not read the request body: {e}"))
            }
        })?
        .to_bytes();
    let client_context = match header(&headers, "x-amz-client-context") {
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
        trace_id: header(&headers, "x-amzn-trace-id").map(str::to_string),
        invoked_arn: arn.qualified(&name, qual.as_deref()),
        want_log_tail: header(&headers, "x-amz-log-type") == Some("Tail"),
        request_id: None,
    };
    let out = api.engine.invoke(&name, version, req).await?;

    let (body, error) = match out.result {
        Ok(b) => (b, None),
        Err(e) => (e.body, Some(e.error_type)),
    };
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&out.request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    if let Ok(v) = HeaderValue::from_str(&out.executed_version) {
        h.insert("X-Amz-Executed-Version", v);
    }
    if error.is_some() {
        h.insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if let Some(tail) = out.log_tail {
        let b64 = base64::engine::general_purpose::STANDARD.encode(tail);
        if let Ok(v) = HeaderValue::from_str(&b64) {
            h.insert("X-Amz-Log-Result", v);
        }
    }
    Ok(resp)
}
