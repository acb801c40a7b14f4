//! A small HTTP client for the CLI's calls to the management API.

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The default endpoint: the local management API.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9000";

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Credentials to sign with: `ONDOL_ACCESS_KEY_ID`/`ONDOL_SECRET_ACCESS_KEY`, else
/// the AWS ones.
fn credentials() -> Option<(String, String)> {
    let pair = |a: &str, b: &str| Some((std::env::var(a).ok()?, std::env::var(b).ok()?));
    pair("ONDOL_ACCESS_KEY_ID", "ONDOL_SECRET_ACCESS_KEY")
        .or_else(|| pair("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
}

/// Adds a SigV4 signature (service `lambda`) to a request.
fn sign(req: &mut Request<Full<Bytes>>, body: &[u8], key_id: &str, secret: &str) {
    use sha2::Digest;
    let now = chrono::Utc::now();
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let region = std::env::var("AWS_DEFAULT_REGION").unwrap_or_else(|_| "us-east-1".into());
    let scope = format!("{}/{region}/lambda/aws4_request", &amz_date[..8]);
    let host = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let h = req.headers_mut();
    h.insert("host", host.parse().expect("authority is a valid header"));
    h.insert("x-amz-date", amz_date.parse().expect("ascii"));
    let payload = hex::encode(sha2::Sha256::digest(body));
    let canonical = ondol_api::sigv4::canonical_request(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query().unwrap_or(""),
        req.headers(),
        "host;x-amz-date",
        &payload,
    );
    let sig = hex::encode(ondol_api::sigv4::signature(
        secret, &amz_date, &scope, &canonical,
    ));
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders=host;x-amz-date, Signature={sig}"
    );
    req.headers_mut()
        .insert("authorization", auth.parse().expect("ascii"));
}

pub async fn call(
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Bytes,
) -> Result<Reply> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let mut req = req
        .body(Full::new(body.clone()))
        .context("building the request")?;
    if let Some((id, secret)) = credentials() {
        sign(&mut req, &body, &id, &secret);
    }
    let resp = client
        .request(req)
        .await
        .with_context(|| format!("could not reach ondol at {url}: is `ondol serve` running?"))?;
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

/// GETs `path` (with its query) from the management API at `endpoint` and parses
/// the JSON answer; a failed reply is an error with its AWS-shaped message.
pub async fn get_json<T: serde::de::DeserializeOwned>(endpoint: &str, path: &str) -> Result<T> {
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let r = call(Method::GET, &url, &[], Bytes::new()).await?;
    if !r.status.is_success() {
        anyhow::bail!("{}", error_message(&r));
    }
    serde_json::from_slice(&r.body).with_context(|| format!("parsing the answer of {path}"))
}

/// The AWS-shaped error message of a failed reply.
pub fn error_message(r: &Reply) -> String {
    let kind = r
        .headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Error");
    let msg = serde_json::from_slice::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or(v.get("Message"))
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&r.body).into_owned());
    format!("{kind} ({}): {msg}", r.status.as_u16())
}

/// An epoch-milliseconds JSON number as `2026-01-01T00:00:00Z`.
pub fn utc_time(ms: &serde_json::Value) -> String {
    chrono::DateTime::from_timestamp_millis(ms.as_i64().unwrap_or(0))
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
