//! A routed request to a Lambda-mode function: admitted (rate limit, body size),
//! turned into an API Gateway event, invoked, and its result mapped back to HTTP.
//! Web-mode functions are handed to `proxy`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::HeaderValue;
use http_body_util::BodyExt;
use ondol_core::manifest::PayloadFormat;
use ondol_core::{InvokeError, InvokeRequest};
use ondol_engine::Run;

use crate::error::GatewayError;
use crate::served::{At, Served};
use crate::table::Target;
use crate::{auth, events, keys, proxy, response, stream, Gateway};

type Result<T, E = GatewayError> = std::result::Result<T, E>;

pub(crate) async fn dispatch(
    gw: &Arc<Gateway>,
    target: &Target,
    at: At<'_>,
    peer: SocketAddr,
    req: Request,
    served: &mut Served,
) -> Result<Response> {
    let api_key = match target.route.api_key_required {
        true => Some(
            gw.keys
                .admit(target, req.headers())
                .map_err(GatewayError::Key)?,
        ),
        false => None,
    };
    admit(target, &req)?;
    let (parts, body) = req.into_parts();
    let granted = authorize(gw, target, &at, &parts, peer).await?;
    let req = Request::from_parts(parts, body);
    let name = &target.route.function;
    let Some(version) = gw.engine.pick(name, target.qualifier.as_deref()) else {
        return Err(GatewayError::NoFunction(name.clone()));
    };
    // The pool (and with it the mode) is looked up once for the whole request.
    let Some(resolved) = gw.engine.target(name, &version) else {
        return Err(refused(
            target,
            InvokeError::NotFound(format!("{name}:{version}")),
        ));
    };
    if target.billed {
        resolved.count_front_door();
    }
    let timeout = target.route.timeout_ms.map(Duration::from_millis);
    if resolved.is_web() {
        return proxy::proxy(gw, target, &resolved, peer, req, &at, timeout, served).await;
    }
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, target.max_body as usize)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(GatewayError::BodyTooLarge {
                limit: target.max_body,
            })
        }
        // The client stalled or went away mid-body: its fault, and nothing was invoked.
        Err(_) => return Err(GatewayError::BodyStalled),
    };
    let request_id = served.request_id();
    let mut event = event(gw, target, &at, &parts, &body, &request_id, peer);
    if let Some(g) = &granted {
        auth::attach(&mut event, target.route.payload, g);
    }
    if let Some(k) = &api_key {
        keys::stamp(&mut event, k);
    }
    let invoke = InvokeRequest {
        payload: event.to_string().into(),
        invoked_arn: gw.engine.arn().qualified(name, target.qualifier.as_deref()),
        request_id: Some(request_id),
        ..Default::default()
    };
    let call = gw.engine.invoke_to(&resolved, invoke);
    let outcome = match timeout {
        Some(t) => tokio::time::timeout(t, call)
            .await
            .map_err(|_| GatewayError::Timeout {
                limit: t,
                what: "route's",
            })?,
        None => call.await,
    };
    answer(target, outcome, served).await
}

/// The route's authorizer, if it has one, before the body is read.
async fn authorize(
    gw: &Gateway,
    target: &Target,
    at: &At<'_>,
    parts: &Parts,
    peer: SocketAddr,
) -> Result<Option<auth::Granted>> {
    let Some(guard) = &target.auth else {
        return Ok(None);
    };
    let asked = auth::Asked {
        req: parts,
        path: at.path,
        params: &at.params,
        stage: &target.stage,
        route: &target.route,
        peer,
    };
    gw.auth
        .check(&gw.engine, guard, &asked)
        .await
        .map_err(GatewayError::Auth)
}

/// The route's rate limit and a declared body over the limit, before anything runs.
fn admit(target: &Target, req: &Request) -> Result<()> {
    if let Some(bucket) = &target.bucket {
        bucket
            .lock()
            .take()
            .map_err(|wait| GatewayError::RateLimited { retry_after: wait })?;
    }
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > target.max_body) {
        return Err(GatewayError::BodyTooLarge {
            limit: target.max_body,
        });
    }
    Ok(())
}

fn event(
    gw: &Gateway,
    target: &Target,
    at: &At<'_>,
    parts: &Parts,
    body: &Bytes,
    request_id: &str,
    peer: SocketAddr,
) -> serde_json::Value {
    let info = events::RequestInfo {
        method: parts.method.as_str(),
        raw_path: at.path,
        full_path: parts.uri.path(),
        stage: &target.stage,
        variables: target.variables.as_deref(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
        route_key: &target.route.key,
        resource: target.route.path.as_deref(),
        params: &at.params,
        request_id,
        source_ip: peer.ip().to_string(),
        now: chrono::Utc::now(),
        account: &gw.engine.arn().account,
        protocol: events::protocol(parts.version),
    };
    match target.route.payload {
        PayloadFormat::V2 => events::v2(&info),
        PayloadFormat::V1 => events::v1(&info),
    }
}

/// The invocation's result as the client sees it.
async fn answer(
    target: &Target,
    outcome: Result<Run, InvokeError>,
    served: &mut Served,
) -> Result<Response> {
    let out = match outcome.map_err(|e| refused(target, e))? {
        Run::Done(o) => o,
        Run::Streaming(s) => {
            served.cold = s.cold_start;
            return streamed(s).await;
        }
    };
    served.cold = out.cold_start;
    served.phases = out.phases;
    let payload = out.result.map_err(GatewayError::Function)?;
    let mapped = match target.route.payload {
        PayloadFormat::V2 => response::v2(&payload),
        PayloadFormat::V1 => response::v1(&payload),
    };
    mapped.map_err(GatewayError::BadResponse)
}

/// A runtime's streamed response: with a JSON prelude (status, headers, cookies)
/// before 8 NUL bytes for HTTP integrations, else a 200 of its content type.
async fn streamed(s: ondol_engine::StreamingOutcome) -> Result<Response> {
    let mut body = s.body;
    if s.content_type.as_deref() != Some(stream::HTTP_INTEGRATION) {
        let mut r = Response::new(Body::new(body));
        if let Some(v) = s.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
            r.headers_mut().insert("content-type", v);
        }
        return Ok(r);
    }
    let (prelude, rest) = stream::split_prelude(&mut body)
        .await
        .map_err(GatewayError::StreamFailed)?;
    let mut head = response::v2(&prelude).map_err(GatewayError::BadResponse)?;
    *head.body_mut() = Body::new(stream::Prefixed::new(rest, body));
    Ok(head)
}

/// A refused invocation, as the client of a route (billed) or a Function URL sees it.
pub(crate) fn refused(target: &Target, error: InvokeError) -> GatewayError {
    GatewayError::Refused {
        error,
        route: target.billed,
    }
}
