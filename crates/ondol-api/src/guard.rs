//! Browsers reach the management API only from its own pages. A request whose
//! `Origin` or `Sec-Fetch-Site` says another site sent it is refused (cross-site
//! request forgery: a page elsewhere posting a CreateFunction to 127.0.0.1), and
//! without credentials (a loopback-only API) the `Host` must be a loopback name,
//! so a name rebound to 127.0.0.1 by DNS cannot read it either. boto3, the aws
//! CLI and `ondol` send neither header and name the address they dial.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

use crate::sigv4::Auth;

/// The host of an authority (`host[:port]`, `[v6]:port`), lowercased.
fn host_of(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    a.rsplit_once(':').map_or(a.clone(), |(h, _)| h.to_string())
}

fn loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a request looks like another site's, if it does.
fn refusal(headers: &HeaderMap, authority: Option<&str>, open: bool) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return Some(format!("a {site} request from a browser page"));
        }
    }
    if let Some(origin) = text("origin") {
        let own = authority.map(str::to_ascii_lowercase);
        let theirs = origin
            .split_once("://")
            .map(|(_, a)| a.trim_end_matches('/').to_ascii_lowercase());
        if theirs.is_none() || theirs != own {
            return Some(format!("a request from the page of {origin}"));
        }
    }
    // Browsers always send Host; a client without one is not a browser.
    if let (true, Some(a)) = (open, authority) {
        let host = host_of(a);
        if !loopback(&host) {
            return Some(format!(
                "Host {host:?} on an API without credentials, which answers loopback names only"
            ));
        }
    }
    None
}

pub async fn browsers(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let authority = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let Some(why) = refusal(req.headers(), authority, auth.credentials.is_none()) else {
        return next.run(req).await;
    };
    tracing::warn!(path = %req.uri().path(), "management API refused {why}");
    let mut r = (
        StatusCode::FORBIDDEN,
        Json(json!({ "Type": "User", "message": format!("refused {why}: the management API serves its own console and API clients only") })),
    )
        .into_response();
    r.headers_mut().insert(
        "x-amzn-ErrorType",
        HeaderValue::from_static("AccessDeniedException"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn clients_and_own_pages_pass() {
        assert!(refusal(&h(&[]), Some("127.0.0.1:9001"), true).is_none());
        assert!(refusal(&h(&[]), Some("localhost:9001"), true).is_none());
        assert!(refusal(&h(&[]), Some("[::1]:9001"), true).is_none());
        let own = h(&[
            ("origin", "http://127.0.0.1:9001"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(refusal(&own, Some("127.0.0.1:9001"), true).is_none());
        assert!(refusal(&h(&[]), Some("ondol.example.com"), false).is_none());
    }

    #[test]
    fn other_sites_and_rebound_names_are_refused() {
        let evil = h(&[("origin", "http://evil.example")]);
        assert!(refusal(&evil, Some("127.0.0.1:9001"), true).is_some());
        let other_port = h(&[("origin", "http://127.0.0.1:3000")]);
        assert!(refusal(&other_port, Some("127.0.0.1:9001"), false).is_some());
        assert!(refusal(&h(&[("origin", "null")]), Some("127.0.0.1:9001"), true).is_some());
        let cross = h(&[("sec-fetch-site", "cross-site")]);
        assert!(refusal(&cross, Some("127.0.0.1:9001"), true).is_some());
        assert!(refusal(&h(&[]), Some("rebound.evil.example:9001"), true).is_some());
        assert!(refusal(&h(&[]), None, true).is_none(), "not a browser");
    }
}
