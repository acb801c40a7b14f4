//! What HTTPS changes on the front door's routers: on the plain listener, ACME
//! HTTP-01 answers before any route and a 308 to HTTPS for every host that has a
//! certificate; on the TLS listener, `Strict-Transport-Security` when asked.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, HeaderValue, StatusCode};

use super::CertStore;

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// HSTS for a year, as browsers' preload lists expect at least.
const HSTS: &str = "max-age=31536000";

/// State shared by both listeners' layers and the ACME client.
#[derive(Debug)]
pub struct Front {
    pub certs: Arc<CertStore>,
    /// HTTP-01 tokens → key authorizations.
    pub tokens: RwLock<HashMap<String, String>>,
    /// The HTTPS port redirects point at.
    pub https_port: u16,
    pub hsts: bool,
}

impl Front {
    pub fn set_token(&self, token: &str, key_authorization: Option<String>) {
        let mut t = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        match key_authorization {
            Some(k) => t.insert(token.to_owned(), k),
            None => t.remove(token),
        };
    }

    fn token(&self, token: &str) -> Option<String> {
        let t = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        t.get(token).cloned()
    }
}

/// The plain listener's router: ACME answers, redirects, then `inner`.
pub fn plain(inner: Router, front: Arc<Front>) -> Router {
    inner.layer(axum::middleware::from_fn_with_state(front, plain_layer))
}

/// The TLS listener's router: `inner`, with HSTS if asked.
pub fn secure(inner: Router, front: &Front) -> Router {
    if !front.hsts {
        return inner;
    }
    inner.layer(axum::middleware::map_response(
        |mut r: Response| async move {
            r.headers_mut().insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
            r
        },
    ))
}

async fn plain_layer(State(front): State<Arc<Front>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if let Some(token) = path.strip_prefix(CHALLENGE_PREFIX) {
        // A token we did not hand out goes on to the routes (an app may answer it).
        if let Some(answer) = front.token(token) {
            return ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response();
        }
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase());
    match host {
        Some(host) if front.certs.has(&host) => redirect(&host, front.https_port, &req),
        _ => next.run(req).await,
    }
}

/// 308 keeps the method and body (301/302 turn a POST into a GET).
fn redirect(host: &str, port: u16, req: &Request) -> Response {
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = match port {
        443 => format!("https://{host}{pq}"),
        p => format!("https://{host}:{p}{pq}"),
    };
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}
