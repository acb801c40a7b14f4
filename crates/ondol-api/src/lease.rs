//! Shift leases: while `ondol deploy` moves traffic through an alias it holds a
//! lease and renews it; a deploy that dies (kill -9, a lost machine) stops
//! renewing, and the server puts the alias, if it is still split as the shift left
//! it, back on the version it served before. Renewals only touch memory; taking and
//! giving up a lease are stored with the alias, so a restart does not lose it.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_store::ShiftLease;
use serde::Deserialize;

use crate::error::{ApiError, Result};
use crate::functions::{parse, revision};

use crate::Api;

/// A lease as the server tracks it.
pub(crate) struct Held {
    token: String,
    until: Instant,
}

pub(crate) type Leases = parking_lot::Mutex<BTreeMap<(String, String), Held>>;

/// How long a lease found in the store at start-up lasts unless its deploy renews it.
const RESTORED_TTL: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LeaseIn {
    revert_to: String,
    ttl_ms: u64,
    token: String,
    /// A renewal: refused if the lease is no longer this deploy's.
    #[serde(default)]
    renew: bool,
}

/// `PUT /ondol/v1/functions/{fn}/aliases/{alias}/lease`: takes or renews a lease.
pub async fn put(
    State(api): State<Arc<Api>>,
    Path((fname, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let input: LeaseIn = parse(&body)?;
    if !(100..=600_000).contains(&input.ttl_ms) || input.token.is_empty() {
        return Err(ApiError::InvalidParameter(
            "TtlMs must be between 100 and 600000, and Token given".into(),
        ));
    }
    let (fname, _) = crate::names::here(api.engine.arn(), &fname, None)?;
    let key = (fname.clone(), name.clone());
    let until = Instant::now() + Duration::from_millis(input.ttl_ms);
    {
        let mut leases = api.leases.lock();
        match leases.get_mut(&key) {
            Some(h) if h.token == input.token => {
                h.until = until;
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            Some(h) if h.until > Instant::now() => {
                return Err(ApiError::Conflict(format!(
                    "{fname}:{name} is held by another deploy's traffic shift"
                )))
            }
            _ if input.renew => {
                return Err(ApiError::Conflict(format!(
                    "the lease on {fname}:{name} ran out and the alias went back to version {}",
                    input.revert_to
                )))
            }
            _ => {}
        }
    }
    api.mutate(&fname, |rec| {
        if !rec
            .versions
            .iter()
            .any(|v| v.version.to_string() == input.revert_to)
        {
            return Err(ApiError::InvalidParameter(format!(
                "RevertTo: version {} does not exist",
                input.revert_to
            )));
        }
        let a = rec
            .aliases
            .get_mut(&name)
            .ok_or_else(|| ApiError::NotFound(format!("Alias not found: {fname}:{name}")))?;
        a.lease = Some(ShiftLease {
            revert_to: input.revert_to.clone(),
            token: input.token.clone(),
        });
        Ok(())
    })
    .await?;
    api.leases.lock().insert(
        key,
        Held {
            token: input.token,
            until,
        },
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE .../lease?Token=T`: the shift is over (done or rolled back by its deploy).
pub async fn delete(
    State(api): State<Arc<Api>>,
    Path((fname, name)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response> {
    let (fname, _) = crate::names::here(api.engine.arn(), &fname, None)?;
    let token = q.get("Token").cloned().unwrap_or_default();
    let key = (fname.clone(), name.clone());
    {
        let mut leases = api.leases.lock();
        if leases.get(&key).is_some_and(|h| h.token == token) {
            leases.remove(&key);
        }
    }
    api.mutate(&fname, |rec| {
        if let Some(a) = rec.aliases.get_mut(&name) {
            if a.lease.as_ref().is_some_and(|l| l.token == token) {
                a.lease = None;
            }
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl Api {
    /// Whether a deploy's lease still holds this alias (it may not be deleted then).
    pub(crate) fn leased(&self, fname: &str, alias: &str) -> bool {
        self.leases
            .lock()
            .get(&(fname.to_string(), alias.to_string()))
            .is_some_and(|h| h.until > Instant::now())
    }

    /// Notes the leases found in the store (their deploys get a moment to renew)
    /// and starts watching them.
    pub(crate) fn watch_leases(self: &Arc<Self>, records: &[ondol_store::FunctionRecord]) {
        {
            let mut leases = self.leases.lock();
            for rec in records {
                for (alias, a) in &rec.aliases {
                    if let Some(l) = &a.lease {
                        leases.insert(
                            (rec.config.name.clone(), alias.clone()),
                            Held {
                                token: l.token.clone(),
                                until: Instant::now() + RESTORED_TTL,
                            },
                        );
                    }
                }
            }
        }
        tokio::spawn(watch(Arc::downgrade(self)));
    }

    /// Ends a lease that ran out: the alias goes back to `revert_to` if it is still
    /// split as the shift left it. Returns the version it went back to, if any.
    async fn expire(&self, fname: &str, alias: &str, token: &str) -> Result<Option<String>> {
        let key = (fname.to_string(), alias.to_string());
        let (_, back) = self
            .mutate(fname, |rec| {
                // Renewed (or taken by another deploy) since it was seen expired.
                let still_expired = self
                    .leases
                    .lock()
                    .get(&key)
                    .is_some_and(|h| h.token == token && h.until <= Instant::now());
                let Some(a) = rec.aliases.get_mut(alias) else {
                    return Ok(None);
                };
                let Some(l) = a.lease.clone().filter(|l| l.token == token) else {
                    return Ok(None);
                };
                if !still_expired {
                    return Ok(None);
                }
                a.lease = None;
                if a.function_version == l.revert_to && !a.weights.is_empty() {
                    a.weights.clear();
                    a.revision_id = revision();
                    return Ok(Some(l.revert_to));
                }
                Ok(None)
            })
            .await?;
        let mut leases = self.leases.lock();
        if leases
            .get(&key)
            .is_some_and(|h| h.token == token && h.until <= Instant::now())
        {
            leases.remove(&key);
        }
        Ok(back)
    }
}

/// Every half second, ends the leases that ran out.
async fn watch(api: Weak<Api>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(api) = api.upgrade() else { return };
        let now = Instant::now();
        let expired: Vec<((String, String), String)> = api
            .leases
            .lock()
            .iter()
            .filter(|(_, h)| h.until <= now)
            .map(|(k, h)| (k.clone(), h.token.clone()))
            .collect();
        for ((fname, alias), token) in expired {
            match api.expire(&fname, &alias, &token).await {
                Ok(Some(v)) => {
                    tracing::warn!(function = %fname, %alias, version = %v, "the deploy shifting traffic stopped renewing its lease: the alias is back on its previous version");
                }
                Ok(None) => {}
                Err(ApiError::NotFound(_)) => {
                    api.leases.lock().remove(&(fname, alias));
                }
                Err(e) => {
                    tracing::error!(function = %fname, %alias, error = %e, "could not end a shift lease")
                }
            }
        }
    }
}
