//! A routed request to a web-mode function: plain HTTP proxied to an instance,
//! with hop-by-hop headers dropped, `X-Forwarded-*` added and the stage prefix
//! taken off the path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, HeaderValue};
use http_body_util::BodyExt;
use ondol_engine::ProxyError;

use crate::dispatch::refused;
use crate::error::GatewayError;
use crate::served::{At, Served};
use crate::table::Target;
use crate::Gateway;

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<String> = h
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP {
        h.remove(name);
    }
    for name in listed {
        h.remove(name.as_str());
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn proxy(
    gw: &Arc<Gateway>,
    target: &Target,
    resolved: &ondol_engine::Target,
    peer: SocketAddr,
    req: Request,
    at: &At<'_>,
    timeout: Option<Duration>,
    served: &mut Served,
) -> Result<Response, GatewayError> {
    let (mut parts, body) = req.into_parts();
    // Under a stage prefix the app sees its own paths, and the prefix for links;
    // a prefix the client sent itself is not passed on.
    parts.headers.remove("x-forwarded-prefix");
    if let Some(prefix) = at.prefix {
        let pq = match parts.uri.query() {
            Some(q) => format!("{}?{q}", at.path),
            None => at.path.to_string(),
        };
        if let Ok(uri) = http::Uri::builder().path_and_query(pq).build() {
            parts.uri = uri;
        }
        if let Ok(v) = HeaderValue::from_str(prefix) {
            parts.headers.insert("x-forwarded-prefix", v);
        }
    }
    let host = parts.headers.get(http::header::HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    let xff = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prev) => format!("{prev}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        parts.headers.insert("x-forwarded-for", v);
    }
    // The TLS listener hands on absolute URIs with the `https` scheme.
    let proto = match parts.uri.scheme_str() {
        Some("https") => "https",
        _ => "http",
    };
    parts
        .headers
        .insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(h) = host {
        parts.headers.insert("x-forwarded-host", h);
    }
    let limited = http_body_util::Limited::new(body, target.max_body as usize)
        .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e })
        .boxed_unsync();
    let req = http::Request::from_parts(parts, limited);
    let what = if timeout.is_some() {
        "route's"
    } else {
        "function's"
    };
    match gw.engine.proxy_to(resolved, req, timeout).await {
        Ok(out) => {
            served.request_id = Some(out.request_id);
            served.cold = out.cold_start;
            served.phases = out.phases;
            let (mut parts, body) = out.response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(parts, Body::new(body)))
        }
        Err(ProxyError::Refused(e)) => Err(refused(target, e)),
        Err(ProxyError::Init(e)) => Err(GatewayError::Function(e)),
        Err(ProxyError::Unreachable(why)) => Err(GatewayError::Unreachable(why)),
        Err(ProxyError::Timeout(limit)) => Err(GatewayError::Timeout { limit, what }),
    }
}
