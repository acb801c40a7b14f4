//! `GET /ondol/v1/status`: the store's apps and functions with the engine's live
//! instances and per-minute windows, in one answer for `ondol status`; and per
//! function, its last invocations and its minutes, for the console.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ondol_core::manifest::AppHttp;
use ondol_core::status::{AliasStatus, AppStatus, FunctionStatus, Instances, RouteStatus, Status};
use ondol_store::{AliasRecord, FunctionRecord};
use serde_json::json;

use crate::error::Result;
use crate::Api;

/// `GET /ondol/v1/status`.
pub async fn status(State(api): State<Arc<Api>>) -> Result<Response> {
    let store = api.store.clone();
    let (apps, fns) =
        Api::blocking(move || Ok((store.list_apps()?, store.list_functions()?))).await?;
    let mut instances: BTreeMap<String, Instances> = BTreeMap::new();
    for v in api.engine.version_snapshots() {
        let i = instances.entry(v.function).or_default();
        let p = v.pool;
        i.idle += p.idle;
        i.busy += p.ready.saturating_sub(p.idle);
        i.starting += p.starting;
    }
    let mut functions: Vec<FunctionStatus> = fns
        .iter()
        .map(|f| function(&api, f, instances.get(&f.config.name).copied()))
        .collect();
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    let mut apps: Vec<AppStatus> = apps.iter().map(app).collect();
    apps.sort_by(|a, b| (&a.app, &a.stage).cmp(&(&b.app, &b.stage)));
    Ok(Json(Status { apps, functions }).into_response())
}

fn app(a: &AppHttp) -> AppStatus {
    AppStatus {
        app: a.app.clone(),
        stage: a.stage.clone(),
        hosts: a.hosts.clone(),
        routes: a
            .routes
            .iter()
            .map(|r| RouteStatus {
                route: r.key.clone(),
                host: r.host.clone(),
                function: r.function.clone(),
                qualifier: r.qualifier.clone(),
            })
            .collect(),
    }
}

fn function(api: &Api, f: &FunctionRecord, instances: Option<Instances>) -> FunctionStatus {
    let name = &f.config.name;
    FunctionStatus {
        name: name.clone(),
        runtime: f.config.runtime.clone(),
        memory_mb: f.config.memory_mb,
        versions: f.versions.iter().map(|v| v.version.to_string()).collect(),
        aliases: f.aliases.values().map(alias).collect(),
        instances: instances.unwrap_or_default(),
        last_5m: api.engine.summary(name, 5),
        last_hour: api.engine.summary(name, 60),
    }
}

/// The alias's main version gets what the additional ones leave.
fn alias(a: &AliasRecord) -> AliasStatus {
    let extra: f64 = a.weights.values().sum();
    let mut weights = a.weights.clone();
    weights.insert(a.function_version.clone(), (1.0 - extra).max(0.0));
    AliasStatus {
        name: a.name.clone(),
        weights,
    }
}

/// `?limit=` / `?minutes=` of the per-function views.
#[derive(serde::Deserialize)]
pub struct Window {
    limit: Option<usize>,
    minutes: Option<u64>,
}

/// `GET /ondol/v1/functions/{name}/recent[?limit=50]`: the last invocations over
/// all versions, newest first (100 kept per version).
pub async fn recent(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Query<Window>,
) -> Result<Response> {
    api.load(&name).await?;
    let invocations = api.engine.recent(&name, q.limit.unwrap_or(50).min(1000));
    Ok(Json(json!({ "invocations": invocations })).into_response())
}

/// `GET /ondol/v1/functions/{name}/series[?minutes=60]`: minute by minute, oldest
/// first, the last hour at most.
pub async fn series(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Query<Window>,
) -> Result<Response> {
    api.load(&name).await?;
    let minutes: Vec<serde_json::Value> = api
        .engine
        .series(&name, q.minutes.unwrap_or(60))
        .into_iter()
        .map(|(ts_ms, s)| {
            let mut v = json!(s);
            v["ts_ms"] = json!(ts_ms);
            v
        })
        .collect();
    Ok(Json(json!({ "minutes": minutes })).into_response())
}
