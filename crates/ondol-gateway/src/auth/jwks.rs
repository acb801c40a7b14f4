//! JWKS of JWT issuers: found through the issuer's OpenID discovery document (or
//! a given `jwks_uri`), cached, refreshed hourly and refetched when a token
//! names an unknown `kid` (key rotation) — at most once per [`REFETCH_FLOOR`],
//! so a flood of made-up kids cannot hammer the issuer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use ondol_core::manifest::JwtAuthorizer;
use parking_lot::Mutex;
use serde::Deserialize;

/// The least time between two fetches of one issuer's keys.
pub const REFETCH_FLOOR: Duration = Duration::from_secs(5);
/// Keys older than this are fetched again even when every kid is known.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// A discovery document or key set larger than this is refused.
const MAX_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no key was found for a token.
#[derive(Debug)]
pub enum KeyError {
    /// The issuer's keys could not be fetched (the reason is logged).
    Unavailable,
    /// The key set has no key for this token.
    NoKey,
}

#[derive(Default)]
struct Source {
    keys: Option<JwkSet>,
    fetched: Option<Instant>,
}

/// Every issuer's cached keys, keyed by where they come from.
pub struct Jwks {
    client: reqwest::Client,
    sources: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Source>>>>,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl Jwks {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .unwrap_or_default();
        Self {
            client,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// The key `kid` (or the only key, for a token without one) of `a`'s issuer.
    pub async fn key(&self, a: &JwtAuthorizer, kid: Option<&str>) -> Result<Jwk, KeyError> {
        let id = a.jwks_uri.clone().unwrap_or_else(|| a.issuer.clone());
        let source = self.sources.lock().entry(id).or_default().clone();
        // One fetch at a time per issuer: concurrent misses wait for it.
        let mut s = source.lock().await;
        let stale = s.fetched.is_none_or(|t| t.elapsed() > MAX_AGE);
        if !stale {
            if let Some(k) = s.keys.as_ref().and_then(|k| find(k, kid)) {
                return Ok(k);
            }
        }
        if s.fetched.is_some_and(|t| t.elapsed() < REFETCH_FLOOR) {
            return Err(KeyError::NoKey);
        }
        s.fetched = Some(Instant::now());
        match self.fetch(a).await {
            Ok(set) => s.keys = Some(set),
            Err(why) => {
                tracing::warn!(issuer = %a.issuer, %why, "cannot fetch the issuer's JWKS");
                if s.keys.is_none() {
                    return Err(KeyError::Unavailable);
                }
            }
        }
        s.keys
            .as_ref()
            .and_then(|k| find(k, kid))
            .ok_or(KeyError::NoKey)
    }

    async fn fetch(&self, a: &JwtAuthorizer) -> Result<JwkSet, String> {
        let uri = match &a.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    a.issuer.trim_end_matches('/')
                );
                let d: Discovery = serde_json::from_slice(&self.get(&url).await?)
                    .map_err(|e| format!("{url}: not an OpenID configuration: {e}"))?;
                d.jwks_uri
            }
        };
        serde_json::from_slice(&self.get(&uri).await?)
            .map_err(|e| format!("{uri}: not a JWK set: {e}"))
    }

    async fn get(&self, url: &str) -> Result<bytes::Bytes, String> {
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("{url}: {e}"))?;
        if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(format!("{url}: larger than {MAX_BYTES} bytes"));
        }
        let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if body.len() > MAX_BYTES {
            return Err(format!("{url}: larger than {MAX_BYTES} bytes"));
        }
        Ok(body)
    }
}

fn find(set: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    match kid {
        Some(k) => set.find(k).cloned(),
        None if set.keys.len() == 1 => set.keys.first().cloned(),
        None => None,
    }
}
