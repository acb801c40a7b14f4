//! The web console: its pages, embedded in the binary at build time from
//! `console/dist` (built with Vite; no CDN, works offline), served under
//! `/console/`, and its sign-in (`/ondol/v1/console/*`, see `session`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

use crate::session::{COOKIE, TTL};
use crate::sigv4::Auth;

#[derive(rust_embed::Embed)]
#[folder = "../../console/dist"]
struct Pages;

/// Scripts and styles only from this server; nothing may frame the console.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The console's routes; they sit outside the SigV4 check (the pages hold no data,
/// and sign-in is how a browser gets in).
pub fn router<S: Clone + Send + Sync + 'static>(auth: Arc<Auth>) -> Router<S> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(|| page(Path(String::new()))))
        .route("/console/{*path}", get(page))
        .route("/ondol/v1/console/session", get(session))
        .route("/ondol/v1/console/login", post(login))
        .route("/ondol/v1/console/logout", post(logout))
        .with_state(auth)
}

async fn page(Path(path): Path<String>) -> Response {
    let path = if path.is_empty() { "index.html" } else { &path };
    let Some(file) = Pages::get(path) else {
        return (StatusCode::NOT_FOUND, "no such page in the console\n").into_response();
    };
    // Vite names assets by their hash: they never change under one name.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mime = file.metadata.mimetype().to_string();
    let mut r = (StatusCode::OK, file.data.into_owned()).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn message(status: StatusCode, kind: &str, msg: &str) -> Response {
    let mut r = (status, Json(json!({ "Type": "User", "message": msg }))).into_response();
    if let Ok(v) = HeaderValue::from_str(kind) {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

/// `GET /ondol/v1/console/session`: 200 when the console may read the API (no
/// credentials are configured, or the request has a live session), else 401.
async fn session(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    match &auth.credentials {
        None => Json(json!({ "auth": "none" })).into_response(),
        Some(_) if auth.sessions.valid(&headers) => {
            Json(json!({ "auth": "session" })).into_response()
        }
        Some(_) => message(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedException",
            "sign in with the server's management access key id and secret",
        ),
    }
}

#[derive(serde::Deserialize)]
struct SignIn {
    access_key_id: String,
    secret_access_key: String,
}

/// Equal, compared in constant time (through HMACs of both).
fn same(a: &str, b: &str) -> bool {
    let mac = |s: &str| {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"console").expect("any key");
        m.update(s.as_bytes());
        m
    };
    mac(a).verify_slice(&mac(b).finalize().into_bytes()).is_ok()
}

/// `POST /ondol/v1/console/login {"access_key_id","secret_access_key"}`: 204 with
/// the session cookie, 401 for a wrong pair, 429 after too many failures.
async fn login(State(auth): State<Arc<Auth>>, body: Bytes) -> Response {
    let Some(creds) = &auth.credentials else {
        return StatusCode::NO_CONTENT.into_response();
    };
    if auth.sessions.locked() {
        return message(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "too many failed sign-ins in the last minute; wait a minute and try again",
        );
    }
    let Ok(s) = serde_json::from_slice::<SignIn>(&body) else {
        return message(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "expected {\"access_key_id\": \"...\", \"secret_access_key\": \"...\"}",
        );
    };
    let key_ok = same(&s.access_key_id, &creds.access_key_id);
    let secret_ok = same(&s.secret_access_key, &creds.secret_access_key);
    if !(key_ok && secret_ok) {
        auth.sessions.failed();
        tracing::warn!("console sign-in refused: wrong access key id or secret");
        return message(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedException",
            "wrong access key id or secret",
        );
    }
    let token = auth.sessions.open();
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        TTL.as_secs()
    );
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /ondol/v1/console/logout`: ends the session and clears the cookie.
async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    auth.sessions.close(&headers);
    let mut r = StatusCode::NO_CONTENT.into_response();
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
