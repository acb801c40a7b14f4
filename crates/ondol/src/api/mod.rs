//! The CLI's one client for the server's API: one connection pool, the endpoint
//! and the credentials in one place, and a typed call for every request a
//! command makes (`lambda` for the Lambda-shaped API, `ondol` for ondol's own).

mod lambda;
mod ondol;
pub mod reports;
mod sign;
pub mod types;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use lambda::Lambda;
pub use ondol::{stage_query, Ondol};

/// The default endpoint: the local management API.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9000";

/// A connection to one server; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Client {
    http: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
    endpoint: String,
    credentials: Option<sign::Credentials>,
}

/// A reply as it came.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The server refused a request: its AWS error type, status and message, and the
/// path when the command names it.
#[derive(Debug)]
pub struct ApiError {
    pub path: Option<String>,
    pub status: StatusCode,
    pub kind: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{p}: ")?;
        }
        write!(
            f,
            "{} ({}): {}",
            self.kind,
            self.status.as_u16(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// The error of a failed reply.
    pub fn of(r: &Reply, path: Option<&str>) -> Self {
        let kind = r
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("Error");
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(alias = "Message")]
            message: String,
        }
        let message = serde_json::from_slice::<Body>(&r.body)
            .map(|b| b.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&r.body).into_owned());
        Self {
            path: path.map(str::to_string),
            status: r.status,
            kind: kind.to_string(),
            message,
        }
    }
}

/// The status of a refusal, if `e` is one.
pub fn refused_with(e: &anyhow::Error) -> Option<StatusCode> {
    e.downcast_ref::<ApiError>().map(|a| a.status)
}

impl Client {
    /// A client of the API at `endpoint`, signing with the environment's
    /// credentials if it has any.
    pub fn new(endpoint: &str) -> Self {
        Self {
            http: hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            credentials: sign::Credentials::from_env(),
        }
    }

    /// The Lambda-shaped API (functions, versions, aliases, layers, invoke).
    pub fn lambda(&self) -> Lambda<'_> {
        Lambda(self)
    }

    /// ondol's own API (warm, drain, metrics, apps, deploys, logs, dlq...).
    pub fn ondol(&self) -> Ondol<'_> {
        Ondol(self)
    }

    /// Sends one request to `path` (with its query) and returns the reply whatever
    /// its status.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.endpoint);
        let mut req = Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let mut req = req
            .body(Full::new(body.clone()))
            .context("building the request")?;
        if let Some(c) = &self.credentials {
            c.sign(&mut req, &body);
        }
        let resp = self.http.request(req).await.with_context(|| {
            format!("could not reach ondol at {url}: is `ondol serve` running?")
        })?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .context("reading the response")?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Sends `body` as JSON; a refusal other than 404 is an [`ApiError`] naming
    /// the path. The reply is given back for the caller to read.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Reply> {
        let bytes = match body {
            Some(b) => Bytes::from(serde_json::to_vec(b)?),
            None => Bytes::new(),
        };
        let r = self.raw(method, path, &[], bytes).await?;
        if !r.status.is_success() && r.status != StatusCode::NOT_FOUND {
            return Err(ApiError::of(&r, Some(path)).into());
        }
        Ok(r)
    }

    /// A request whose answer is `T`, `None` if the server answers 404.
    async fn send_opt<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Option<T>> {
        let r = self.exchange(method, path, body).await?;
        if r.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        decode(&r, path).map(Some)
    }

    /// A request whose answer is `T`; 404 is an error too.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        let r = self.exchange(method, path, body).await?;
        if r.status == StatusCode::NOT_FOUND {
            return Err(ApiError::of(&r, Some(path)).into());
        }
        decode(&r, path)
    }

    /// A request whose answer does not matter; whether it found its target.
    async fn send_unit(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<bool> {
        let r = self.exchange(method, path, body).await?;
        Ok(r.status != StatusCode::NOT_FOUND)
    }

    /// GETs `path` and parses the answer; any refusal is an error with its
    /// AWS-shaped message (not naming the path).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.fetch(Method::GET, path).await
    }

    /// Like [`Client::get`] for any method, with no body.
    async fn fetch<T: DeserializeOwned>(&self, method: Method, path: &str) -> Result<T> {
        let r = self.raw(method, path, &[], Bytes::new()).await?;
        if !r.status.is_success() {
            return Err(ApiError::of(&r, None).into());
        }
        decode(&r, path)
    }
}

/// Parses a reply's JSON body.
fn decode<T: DeserializeOwned>(r: &Reply, path: &str) -> Result<T> {
    serde_json::from_slice(&r.body).with_context(|| format!("parsing the answer of {path}"))
}

/// Epoch milliseconds as `2026-01-01T00:00:00Z`.
pub fn utc_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Percent-encodes a path segment.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
