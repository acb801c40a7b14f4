//! `POST /ondol/v1/apps/{app}/rollback {"stage","to","who"}`: every function of a
//! stage back to the versions of an earlier good deploy of that stage, the way a
//! deploy moves traffic: every target version warmed first (as many instances as
//! the version it replaces runs), then every stage alias switched, then the old
//! versions drained where no alias serves them, and the rollback recorded in the
//! history. `ondol rollback` and the console both use it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use ondol_core::manifest::{stage_alias, DEFAULT_STAGE};
use ondol_store::{AliasRecord, DeployRecord, FunctionRecord};
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::functions::{ok_json, parse, revision};
use crate::Api;

#[derive(serde::Deserialize)]
struct RollbackIn {
    stage: Option<String>,
    /// The history entry to go back to; default the newest good one that differs
    /// from what serves now.
    to: Option<i64>,
    /// Who asks, for the history (default `api`).
    who: Option<String>,
}

/// One function's move back.
struct Switch {
    function: String,
    new: String,
    old: Option<String>,
}

fn good(d: &DeployRecord) -> bool {
    !d.outcome.starts_with("failed") && d.outcome != "removed"
}

/// The alias's version, and whether it also sends a share elsewhere.
fn live(rec: &FunctionRecord, alias: &str) -> (Option<String>, bool) {
    rec.aliases.get(alias).map_or((None, false), |a| {
        (Some(a.function_version.clone()), !a.weights.is_empty())
    })
}

pub async fn rollback(
    State(api): State<Arc<Api>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let input: RollbackIn = parse(&body)?;
    let stage = input.stage.unwrap_or_else(|| DEFAULT_STAGE.to_string());
    let alias = stage_alias(&stage);
    let _one = api.rollbacks.lock().await;
    let target = target(&api, &app, &stage, &alias, input.to).await?;
    let mut switches = Vec::new();
    for (f, v) in &target.versions {
        let rec = api.load(f).await?;
        if rec.version(v).is_none() {
            return Err(ApiError::NotFound(format!(
                "version {v} of {f} (deploy #{}) no longer exists",
                target.id
            )));
        }
        if api.leased(f, &alias) {
            return Err(ApiError::Conflict(format!(
                "{f}:{alias} is being shifted by a deploy; roll back once it ends"
            )));
        }
        let (old, split) = live(&rec, &alias);
        if old.as_deref() == Some(v.as_str()) && !split {
            continue;
        }
        switches.push(Switch {
            function: f.clone(),
            new: v.clone(),
            old,
        });
    }
    for s in &switches {
        warm(&api, s).await?;
    }
    for s in &switches {
        point(&api, s, &alias).await?;
    }
    let drained = drain(&api, &switches).await?;
    let outcome = format!("rolled back to #{}", target.id);
    let id = record(&api, &app, &stage, input.who, &target, &outcome).await?;
    tracing::info!(%app, %stage, to = target.id, "rolled back");
    Ok(ok_json(
        StatusCode::OK,
        json!({
            "id": id,
            "to": target.id,
            "versions": target.versions,
            "switched": switches.iter().map(|s| json!({"function": s.function, "from": s.old, "to": s.new})).collect::<Vec<_>>(),
            "drained": drained,
        }),
    ))
}

/// The deploy to go back to.
async fn target(
    api: &Arc<Api>,
    app: &str,
    stage: &str,
    alias: &str,
    to: Option<i64>,
) -> Result<DeployRecord> {
    let store = api.store.clone();
    let (a, s) = (app.to_string(), stage.to_string());
    let all = Api::blocking(move || Ok(store.deploys(&a, Some(&s), 100)?)).await?;
    match all.first() {
        None => {
            return Err(ApiError::NotFound(format!(
                "app {app} has no deploys of stage {stage}"
            )))
        }
        Some(d) if d.outcome == "removed" => {
            return Err(ApiError::Conflict(format!(
                "stage {stage} of {app} was removed; deploy it again instead"
            )))
        }
        Some(_) => {}
    }
    let good: Vec<DeployRecord> = all.into_iter().filter(good).collect();
    if let Some(id) = to {
        return good.into_iter().find(|d| d.id == id).ok_or_else(|| {
            ApiError::NotFound(format!(
                "no successful deploy #{id} of stage {stage} in {app}'s history"
            ))
        });
    }
    // The newest deploy that is not what serves now (a deploy that failed after
    // switching leaves the newest good one as the way back).
    let mut serving: BTreeMap<String, Option<String>> = BTreeMap::new();
    for d in good {
        let mut differs = false;
        for (f, v) in &d.versions {
            if !serving.contains_key(f) {
                let now = match api.load(f).await {
                    Ok(rec) => live(&rec, alias).0,
                    Err(_) => None,
                };
                serving.insert(f.clone(), now);
            }
            differs |= serving[f].as_deref() != Some(v.as_str());
        }
        if differs {
            return Ok(d);
        }
    }
    Err(ApiError::Conflict(format!(
        "stage {stage} of {app} has no earlier deploy to roll back to"
    )))
}

/// Starts the target version's instances before any switch; a failed init
/// switches nothing.
async fn warm(api: &Arc<Api>, s: &Switch) -> Result<()> {
    let running = s.old.as_ref().map_or(0, |old| {
        api.engine
            .pool_stats(&s.function)
            .into_iter()
            .find(|(v, _)| v == old)
            .map_or(0, |(_, p)| p.running)
    });
    if let Err(e) = api.engine.warm(&s.function, &s.new, running.max(1)).await {
        return Err(ApiError::Conflict(format!(
            "{}; nothing was switched, the current versions keep serving",
            crate::ondol::start_failure(&s.function, &s.new, &e)
        )));
    }
    Ok(())
}

/// Points the stage alias at the target version alone.
async fn point(api: &Arc<Api>, s: &Switch, alias: &str) -> Result<()> {
    let (version, name) = (s.new.clone(), alias.to_string());
    api.mutate(&s.function, move |rec| {
        let a = rec
            .aliases
            .entry(name.clone())
            .or_insert_with(|| AliasRecord {
                name,
                function_version: version.clone(),
                description: String::new(),
                weights: BTreeMap::new(),
                revision_id: String::new(),
                lease: None,
            });
        a.function_version = version;
        a.weights.clear();
        a.revision_id = revision();
        Ok(())
    })
    .await?;
    Ok(())
}

/// Stops the idle instances of old versions no alias serves any more.
async fn drain(api: &Arc<Api>, switches: &[Switch]) -> Result<Vec<serde_json::Value>> {
    let mut drained = Vec::new();
    for s in switches {
        let Some(old) = &s.old else { continue };
        let rec = api.load(&s.function).await?;
        let served = rec
            .aliases
            .values()
            .any(|a| &a.function_version == old || a.weights.contains_key(old));
        if !served {
            api.engine.drain_version(&s.function, old);
            drained.push(json!({"function": s.function, "version": old}));
        }
    }
    Ok(drained)
}

async fn record(
    api: &Arc<Api>,
    app: &str,
    stage: &str,
    who: Option<String>,
    target: &DeployRecord,
    outcome: &str,
) -> Result<i64> {
    let d = DeployRecord {
        id: 0,
        app: app.to_string(),
        stage: stage.to_string(),
        at_ms: chrono::Utc::now().timestamp_millis(),
        who: who.unwrap_or_else(|| "api".into()),
        versions: target.versions.clone(),
        outcome: outcome.to_string(),
        fingerprints: target.fingerprints.clone(),
    };
    let key = (
        app.to_string(),
        stage.to_string(),
        crate::prom::deploy_outcome(outcome),
    );
    let store = api.store.clone();
    let id = Api::blocking(move || Ok(store.add_deploy(&d)?)).await?;
    *api.deploy_counts.lock().entry(key).or_default() += 1;
    Ok(id)
}
