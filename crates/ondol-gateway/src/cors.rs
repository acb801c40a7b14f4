//! CORS from `[http].cors`, for every route and method, with automatic preflights.

use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode};
use ondol_core::manifest::Cors;

fn allowed_origin<'a>(cors: &Cors, origin: &'a str) -> Option<&'a str> {
    cors.allow_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
        .then_some(origin)
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn list(items: &[String], requested: Option<&str>) -> Option<String> {
    if items.iter().any(|i| i == "*") {
        return Some(requested.map_or("*".to_string(), str::to_string));
    }
    (!items.is_empty()).then(|| items.join(","))
}

/// Adds CORS headers to an actual response when the Origin is allowed.
pub fn decorate(cors: &Cors, req: &HeaderMap, resp: &mut Response) {
    let Some(origin) = req.get("origin").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let Some(origin) = allowed_origin(cors, origin) else {
        return;
    };
    let h = resp.headers_mut();
    let wildcard = cors.allow_origins.iter().any(|o| o == "*") && !cors.allow_credentials;
    set(
        h,
        "access-control-allow-origin",
        if wildcard { "*" } else { origin },
    );
    if !wildcard {
        h.append("vary", HeaderValue::from_static("Origin"));
    }
    if cors.allow_credentials {
        set(h, "access-control-allow-credentials", "true");
    }
    if !cors.expose_headers.is_empty() {
        set(
            h,
            "access-control-expose-headers",
            &cors.expose_headers.join(","),
        );
    }
}

/// Answers a preflight (`OPTIONS` with `Access-Control-Request-Method`).
pub fn preflight(cors: &Cors, req: &HeaderMap) -> Response {
    let mut resp = Response::new(axum::body::Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let origin = req
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let method = req
        .get("access-control-request-method")
        .and_then(|v| v.to_str().ok());
    let method_ok = method.is_some_and(|m| {
        cors.allow_methods
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(m))
    });
    if allowed_origin(cors, origin).is_none() || !method_ok {
        return resp;
    }
    decorate(cors, req, &mut resp);
    let h = resp.headers_mut();
    if let Some(m) = list(&cors.allow_methods, method) {
        set(h, "access-control-allow-methods", &m);
    }
    let requested = req
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok());
    if let Some(v) = list(&cors.allow_headers, requested) {
        set(h, "access-control-allow-headers", &v);
    }
    if let Some(age) = cors.max_age {
        set(h, "access-control-max-age", &age.to_string());
    }
    resp
}
