//! Shift leases: while `ondol deploy` moves traffic through an alias it holds a
//! lease and renews it; a deploy that dies (kill -9, a lost machine) stops
//! renewing, and the server puts a still-split alias back on the version it
//! served before, so no half-shifted alias is left behind. Leases live in the alias records, so
//! they outlast a server restart too.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_store::ShiftLease;
use serde::Deserialize;

use crate::error::{ApiError, Result};
use crate::functions::{parse, revision};
use crate::names::resolve;
use crate::Api;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LeaseIn {
    revert_to: String,
    ttl_ms: u64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `PUT /ondol/v1/functions/{fn}/aliases/{alias}/lease`: takes or renews the lease.
pub async fn put(
    State(api): State<Arc<Api>>,
    Path((fname, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let input: LeaseIn = parse(&body)?;
    if !(100..=600_000).contains(&input.ttl_ms) {
        return Err(ApiError::InvalidParameter(
            "TtlMs must be between 100 and 600000".into(),
        ));
    }
    let (fname, _) = resolve(&fname, None)?;
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
            revert_to: input.revert_to,
            until_ms: now_ms() + input.ttl_ms as i64,
        });
        Ok(())
    })
    .await?;
    api.leases.lock().insert((fname, name));
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE .../lease`: the shift is over (done or rolled back by the deploy).
pub async fn delete(
    State(api): State<Arc<Api>>,
    Path((fname, name)): Path<(String, String)>,
) -> Result<Response> {
    let (fname, _) = resolve(&fname, None)?;
    api.mutate(&fname, |rec| {
        if let Some(a) = rec.aliases.get_mut(&name) {
            a.lease = None;
        }
        Ok(())
    })
    .await?;
    api.leases.lock().remove(&(fname, name));
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl Api {
    /// Notes the leases found in the store and starts watching them.
    pub(crate) fn watch_leases(self: &Arc<Self>, records: &[ondol_store::FunctionRecord]) {
        {
            let mut leases = self.leases.lock();
            for rec in records {
                for (alias, a) in &rec.aliases {
                    if a.lease.is_some() {
                        leases.insert((rec.config.name.clone(), alias.clone()));
                    }
                }
            }
        }
        tokio::spawn(watch(Arc::downgrade(self)));
    }

    /// Puts an alias whose lease ran out back on the version it held before.
    async fn expire(&self, fname: &str, alias: &str) -> Result<bool> {
        let (_, reverted) = self
            .mutate(fname, |rec| {
                let Some(a) = rec.aliases.get_mut(alias) else {
                    return Ok(None);
                };
                match &a.lease {
                    // The shift finished (or another deploy set the alias whole):
                    // nothing to undo.
                    Some(l) if l.until_ms < now_ms() && a.weights.is_empty() => {
                        a.lease = None;
                        Ok(Some(String::new()))
                    }
                    Some(l) if l.until_ms < now_ms() => {
                        let back = l.revert_to.clone();
                        a.function_version = back.clone();
                        a.weights.clear();
                        a.lease = None;
                        a.revision_id = revision();
                        Ok(Some(back))
                    }
                    Some(_) => Ok(None),
                    None => Ok(Some(String::new())),
                }
            })
            .await?;
        match reverted {
            Some(v) if !v.is_empty() => {
                tracing::warn!(function = %fname, %alias, version = %v, "the deploy shifting traffic stopped renewing its lease: the alias is back on its previous version");
                Ok(true)
            }
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }
}

/// Every half second, reverts the aliases whose lease ran out.
async fn watch(api: Weak<Api>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(api) = api.upgrade() else { return };
        let held: Vec<(String, String)> = api.leases.lock().iter().cloned().collect();
        for (fname, alias) in held {
            match api.expire(&fname, &alias).await {
                Ok(true) | Err(ApiError::NotFound(_)) => {
                    api.leases.lock().remove(&(fname, alias));
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(function = %fname, %alias, error = %e, "could not check a shift lease")
                }
            }
        }
    }
}
