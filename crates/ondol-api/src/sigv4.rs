//! AWS Signature Version 4 for the management API. With credentials configured,
//! every request must be signed by them (botocore's canonical form: the path
//! re-encoded, the query's raw pairs sorted, the body hashed), within a bounded
//! clock skew. Errors are AWS's: 403 `MissingAuthenticationTokenException`,
//! `UnrecognizedClientException`, `InvalidSignatureException`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// An access key and its secret. The secret is never printed.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, secret hidden)", self.access_key_id)
    }
}

/// Bytes of bodies read but not yet verified, across all requests: the access key
/// id is not a secret, so what its knowers can make the server hold is bounded.
pub const UNVERIFIED_BODY_BUDGET: usize = 512 * 1024 * 1024;

/// Whether requests must be signed, and by whom.
#[derive(Clone, Debug)]
pub struct Auth {
    pub credentials: Option<Credentials>,
    /// Largest accepted difference between `X-Amz-Date` and now (default 5 min).
    pub max_skew: chrono::Duration,
    /// KiB of unverified body bytes that may be held at once.
    unverified: Arc<tokio::sync::Semaphore>,
    /// The console's signed-in browsers, which pass without a signature.
    pub sessions: Arc<crate::session::Sessions>,
}

impl Auth {
    pub fn new(credentials: Option<Credentials>) -> Self {
        Self {
            credentials,
            max_skew: chrono::Duration::minutes(5),
            unverified: Arc::new(tokio::sync::Semaphore::new(UNVERIFIED_BODY_BUDGET / 1024)),
            sessions: Default::default(),
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Self::new(None)
    }
}

/// What failed in a signature check.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    UnknownKey,
    Invalid(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (kind, msg) = match self {
            Refusal::Missing => (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token".to_string(),
            ),
            Refusal::UnknownKey => (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.".to_string(),
            ),
            Refusal::Invalid(m) => ("InvalidSignatureException", m),
        };
        let mut r = (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "Type": "User", "message": msg })),
        )
            .into_response();
        r.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
        r
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// Percent-encodes every byte outside `A-Za-z0-9_.-~/`, as botocore's `quote`.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical request of a signed request, as the signer built it.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let mut pairs: Vec<(&str, &str)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut canon_headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canon_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    format!(
        "{method}\n{}\n{}\n{canon_headers}\n{signed_headers}\n{payload_hash}",
        encode_path(raw_path),
        query.join("&")
    )
}

/// The signature for a canonical request.
pub fn signature(secret: &str, amz_date: &str, scope: &str, canonical: &str) -> Vec<u8> {
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part.as_bytes());
    }
    hmac(&key, string_to_sign.as_bytes())
}

struct Parsed<'a> {
    key_id: &'a str,
    scope: String,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(v: &str) -> Option<Parsed<'_>> {
    let rest = v.strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, val) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(val),
            "SignedHeaders" => signed = Some(val),
            "Signature" => sig = Some(val),
            _ => {}
        }
    }
    let (key_id, scope) = cred?.split_once('/')?;
    Some(Parsed {
        key_id,
        scope: scope.to_string(),
        signed_headers: signed?,
        signature: sig?,
    })
}

/// The parts of a request a signature covers, as received.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
}

/// What the headers alone prove: the key is ours, the date is fresh, the
/// Authorization header is well-formed. Checked before any body byte is read.
pub struct Claim<'a> {
    amz_date: &'a str,
    scope: String,
    signed_headers: &'a str,
    signature: Vec<u8>,
}

/// Checks everything a signature says that needs no body.
pub fn check_headers<'a>(
    auth: &Auth,
    creds: &Credentials,
    headers: &'a HeaderMap,
    now: DateTime<Utc>,
) -> Result<Claim<'a>, Refusal> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let authz = header("authorization").ok_or(Refusal::Missing)?;
    let p = parse_authorization(authz).ok_or_else(|| {
        Refusal::Invalid("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' (AWS4-HMAC-SHA256)".into())
    })?;
    if p.key_id != creds.access_key_id {
        return Err(Refusal::UnknownKey);
    }
    let amz_date =
        header("x-amz-date").ok_or_else(|| Refusal::Invalid("Missing X-Amz-Date header".into()))?;
    let when = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            Refusal::Invalid(format!(
                "X-Amz-Date '{amz_date}' is not in the form 20150830T123600Z"
            ))
        })?
        .and_utc();
    if (now - when).abs() > auth.max_skew {
        return Err(Refusal::Invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - {} min.)",
            (now - auth.max_skew).format("%Y%m%dT%H%M%SZ"),
            now.format("%Y%m%dT%H%M%SZ"),
            auth.max_skew.num_minutes()
        )));
    }
    if !p.scope.starts_with(&amz_date[..8]) {
        return Err(Refusal::Invalid(
            "Credential scope date does not match X-Amz-Date".into(),
        ));
    }
    if !p.signed_headers.split(';').any(|h| h == "host") {
        return Err(Refusal::Invalid("'Host' must be a signed header".into()));
    }
    let signature =
        hex::decode(p.signature).map_err(|_| Refusal::Invalid("Signature is not hex".into()))?;
    Ok(Claim {
        amz_date,
        scope: p.scope,
        signed_headers: p.signed_headers,
        signature,
    })
}

/// Checks a claim's signature once the body's SHA-256 is known.
pub fn check_signature(
    creds: &Credentials,
    claim: &Claim<'_>,
    req: &SignedRequest<'_>,
    payload_hash: &str,
) -> Result<(), Refusal> {
    if let Some(claimed) = req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        if claimed != "UNSIGNED-PAYLOAD" && claimed != payload_hash {
            return Err(Refusal::Invalid(
                "The provided x-amz-content-sha256 header does not match what was computed.".into(),
            ));
        }
    }
    let canonical = canonical_request(
        req.method,
        req.raw_path,
        req.raw_query,
        req.headers,
        claim.signed_headers,
        payload_hash,
    );
    let expected = signature(
        &creds.secret_access_key,
        claim.amz_date,
        &claim.scope,
        &canonical,
    );
    // Compared in constant time.
    let mut mac = HmacSha256::new_from_slice(b"compare").expect("any key");
    mac.update(&expected);
    if mac
        .verify_slice(&hmac(b"compare", &claim.signature))
        .is_err()
    {
        return Err(Refusal::Invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
        ));
    }
    Ok(())
}

/// A hashed body and its share of the unverified-bytes budget.
struct Hashed {
    bytes: bytes::Bytes,
    sha256: String,
    _held: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Takes `len` more bytes from the budget, or refuses the request (429, retryable).
fn hold(
    auth: &Auth,
    held: &mut Option<tokio::sync::OwnedSemaphorePermit>,
    len: usize,
) -> Result<(), crate::ApiError> {
    let kib = len.div_ceil(1024) as u32;
    match auth.unverified.clone().try_acquire_many_owned(kib) {
        Ok(p) => {
            match held {
                Some(h) => h.merge(p),
                None => *held = Some(p),
            }
            Ok(())
        }
        Err(_) => Err(crate::ApiError::Throttled {
            reason: "UnverifiedBodyBudgetExceeded",
            message: format!(
                "Too many request bytes are waiting for their signature check (at most {} MB at once); retry",
                UNVERIFIED_BODY_BUDGET >> 20
            ),
        }),
    }
}

/// Reads a body (already capped by `body_cap`) while hashing it, within the budget.
async fn read_hashed(auth: &Auth, body: Body) -> Result<Hashed, Response> {
    let mut hasher = Sha256::new();
    let mut buf = bytes::BytesMut::new();
    let mut held = None;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                crate::ApiError::RequestTooLarge(
                    "Request body exceeds the limit for this operation".into(),
                )
                .into_response()
            } else {
                Refusal::Invalid("Could not read the request body".into()).into_response()
            }
        })?;
        if let Ok(data) = frame.into_data() {
            hold(auth, &mut held, data.len()).map_err(IntoResponse::into_response)?;
            hasher.update(&data);
            buf.extend_from_slice(&data);
        }
    }
    Ok(Hashed {
        bytes: buf.freeze(),
        sha256: hex::encode(hasher.finalize()),
        _held: held,
    })
}

/// Middleware: passes everything when no credentials are configured (loopback
/// only), else only requests signed by them. The headers are judged before any
/// body byte is read, so an unsigned upload costs nothing.
pub async fn require(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let Some(creds) = auth.credentials.clone() else {
        return next.run(req).await;
    };
    if auth.sessions.valid(req.headers()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let claim = match check_headers(&auth, &creds, &parts.headers, Utc::now()) {
        Ok(c) => c,
        Err(r) => {
            let mut resp = r.into_response();
            resp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
        }
    };
    let hashed = match read_hashed(&auth, body).await {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    let Hashed {
        bytes,
        sha256,
        _held: held,
    } = hashed;
    let signed = SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
    };
    if let Err(r) = check_signature(&creds, &claim, &signed, &sha256) {
        return r.into_response();
    }
    // Verified: the bytes no longer count against the budget.
    drop(held);
    drop(claim);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_over_its_cap_is_a_413_not_a_signature_error() {
        let capped = Body::new(http_body_util::Limited::new(Body::from(vec![0u8; 10]), 5));
        let refused = read_hashed(&Auth::new(None), capped).await.err().unwrap();
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn unverified_bytes_are_bounded_and_given_back() {
        let auth = Auth::new(None);
        let mut a = None;
        hold(&auth, &mut a, UNVERIFIED_BODY_BUDGET - 1024).unwrap();
        let mut b = None;
        let refused = hold(&auth, &mut b, 4096).unwrap_err();
        assert_eq!(
            refused.into_response().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        drop(a);
        hold(&auth, &mut b, 4096).unwrap();
    }

    /// AWS's published example (get-vanilla from the SigV4 test suite).
    #[test]
    fn matches_the_aws_test_suite_vector() {
        let mut h = HeaderMap::new();
        h.insert("host", "example.amazonaws.com".parse().unwrap());
        h.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let canonical = canonical_request(
            "GET",
            "/",
            "",
            &h,
            "host;x-amz-date",
            &hex::encode(Sha256::digest(b"")),
        );
        let sig = signature(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            "20150830/us-east-1/service/aws4_request",
            &canonical,
        );
        assert_eq!(
            hex::encode(sig),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn path_is_encoded_again_as_botocore_does() {
        assert_eq!(
            encode_path("/2015-03-31/functions/arn%3Aaws/invocations"),
            "/2015-03-31/functions/arn%253Aaws/invocations"
        );
    }
}
