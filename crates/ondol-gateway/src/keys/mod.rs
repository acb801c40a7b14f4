//! API keys at the front door: `x-api-key` checked against the live keys (by
//! SHA-256, so no key value is kept or compared), then the key's usage plan —
//! quota, then token bucket — all in memory. The API flushes the counters to the
//! store every few seconds and at shutdown; no request writes anything.

mod window;

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use ondol_core::keys::{ApiKey, KeyRing, QuotaUse};
use ondol_core::manifest::{RateLimit, UsagePlan};
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::table::{Bucket, Target};

/// Longer values are refused before hashing: keys ondol makes are 40 characters.
const MAX_KEY_LEN: usize = 128;

/// The live keys, by the SHA-256 of their value.
#[derive(Default)]
pub struct Keys {
    by_hash: RwLock<HashMap<[u8; 32], Arc<Live>>>,
}

struct Live {
    key: ApiKey,
    usage: Mutex<Usage>,
}

#[derive(Default)]
struct Usage {
    /// The plan rate the bucket was made for (a redeploy may change it).
    bucket: Option<(RateLimit, Bucket)>,
    quota: QuotaUse,
    /// Counted since the last flush.
    dirty: bool,
}

/// A request's key, once admitted.
pub struct Admitted {
    pub id: String,
    pub value: String,
}

/// Why a request was refused, with API Gateway's answer for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No key, an unknown one, or one not valid here: 403 `Forbidden`.
    Forbidden,
    /// Over the plan's rate: 429 `Too Many Requests`, retry after this many seconds.
    Throttled(u64),
    /// Over the plan's quota: 429 `Limit Exceeded`, until the window ends.
    OverQuota(u64),
}

impl Refused {
    /// API Gateway's status, `message` and `Retry-After` for the refusal.
    pub fn status(&self) -> (StatusCode, &'static str, Option<u64>) {
        match self {
            Self::Forbidden => (StatusCode::FORBIDDEN, "Forbidden", None),
            Self::Throttled(w) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                Some((*w).max(1)),
            ),
            Self::OverQuota(w) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Limit Exceeded",
                Some((*w).max(1)),
            ),
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Forbidden => f.write_str("no valid x-api-key for this api_key_required route"),
            Self::Throttled(w) => write!(f, "over the key's usage plan rate; retry after {w} s"),
            Self::OverQuota(w) => write!(f, "over the key's usage plan quota; it resets in {w} s"),
        }
    }
}

fn forbidden() -> Refused {
    Refused::Forbidden
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

impl Keys {
    /// Admits a request to a route that needs a key, or answers as API Gateway
    /// does: 403 without a valid key, 429 over the key's plan.
    pub fn admit(&self, target: &Target, headers: &HeaderMap) -> Result<Admitted, Refused> {
        let value = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= MAX_KEY_LEN)
            .ok_or_else(forbidden)?;
        let live = self
            .by_hash
            .read()
            .get(&digest(value))
            .cloned()
            .ok_or_else(forbidden)?;
        let key = &live.key;
        if key.app.as_deref().is_some_and(|a| a != &*target.app) {
            return Err(forbidden());
        }
        let plan = match &key.plan {
            Some(p) => match target.plans.get(p) {
                Some(plan) => Some(*plan),
                None => {
                    tracing::warn!(key = %key.name, plan = %p, app = %target.app, "API key refused: its usage plan is not defined in the app");
                    return Err(forbidden());
                }
            },
            None => None,
        };
        if let Some(plan) = plan {
            live.usage.lock().count(&plan, &key.name)?;
        }
        Ok(Admitted {
            id: key.id.clone(),
            value: value.to_string(),
        })
    }
}

impl Usage {
    /// Quota first (a request over it takes no token), then the bucket.
    fn count(&mut self, plan: &UsagePlan, name: &str) -> Result<(), Refused> {
        let now = chrono::Utc::now();
        if let Some(q) = plan.quota {
            let (start, end) = window::bounds(q.period, now);
            if self.quota.window != start {
                self.quota = QuotaUse {
                    window: start,
                    used: 0,
                };
                self.dirty = true;
            }
            if self.quota.used >= q.limit {
                tracing::info!(key = %name, limit = q.limit, period = q.period.as_str(), "API key over its quota");
                return Err(Refused::OverQuota((end - now.timestamp()) as u64));
            }
        }
        if let Some(rate) = plan.rate {
            if self.bucket.as_ref().is_none_or(|(r, _)| *r != rate) {
                self.bucket = Some((rate, Bucket::new(rate.rps, rate.burst)));
            }
            if let Some((_, b)) = &mut self.bucket {
                b.take().map_err(Refused::Throttled)?;
            }
        }
        if plan.quota.is_some() {
            self.quota.used += 1;
            self.dirty = true;
        }
        Ok(())
    }
}

impl KeyRing for Keys {
    fn set_keys(&self, keys: Vec<ApiKey>) {
        let mut map = self.by_hash.write();
        let mut old: HashMap<String, Arc<Live>> =
            map.drain().map(|(_, l)| (l.key.id.clone(), l)).collect();
        for key in keys {
            let Some(hash) = hex::decode(&key.hash)
                .ok()
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
            else {
                tracing::error!(key = %key.name, "stored API key has a malformed hash; skipped");
                continue;
            };
            // A key that stays keeps its counters.
            let usage = old
                .remove(&key.id)
                .map(|l| std::mem::take(&mut *l.usage.lock()))
                .unwrap_or_default();
            let usage = Mutex::new(usage);
            map.insert(hash, Arc::new(Live { key, usage }));
        }
    }

    fn seed_usage(&self, usage: Vec<(String, QuotaUse)>) {
        let by_id: HashMap<String, QuotaUse> = usage.into_iter().collect();
        for live in self.by_hash.read().values() {
            if let Some(u) = by_id.get(&live.key.id) {
                live.usage.lock().quota = *u;
            }
        }
    }

    fn usage(&self, changed_only: bool) -> Vec<(String, QuotaUse)> {
        let map = self.by_hash.read();
        let mut out = Vec::new();
        for live in map.values() {
            let mut u = live.usage.lock();
            if !changed_only || u.dirty {
                out.push((live.key.id.clone(), u.quota));
            }
            if changed_only {
                u.dirty = false;
            }
        }
        out
    }
}

/// Puts the key in the event where API Gateway does: REST (1.0) in
/// `requestContext.identity` (`apiKey`, `apiKeyId`); HTTP APIs have no API keys,
/// so 2.0 events get the same two fields in `requestContext.identity`, ondol's own.
pub fn stamp(event: &mut Value, key: &Admitted) {
    let Some(ctx) = event
        .get_mut("requestContext")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let identity = ctx
        .entry("identity")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(id) = identity.as_object_mut() {
        id.insert("apiKey".into(), Value::String(key.value.clone()));
        id.insert("apiKeyId".into(), Value::String(key.id.clone()));
    }
}

#[cfg(test)]
mod tests;
