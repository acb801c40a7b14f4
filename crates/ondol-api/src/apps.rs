//! Apps: the HTTP side of a deployed `ondol.toml` (routes, CORS, body limit),
//! stored and handed whole to the front door, with the Function URLs.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_core::manifest::{AppHttp, UrlRoute};
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::functions::{ok_json, parse};
use crate::prom;
use crate::Api;

impl Api {
    /// Every app and Function URL as stored.
    async fn front_state(&self) -> Result<(Vec<AppHttp>, Vec<UrlRoute>)> {
        let store = self.store.clone();
        Api::blocking(move || {
            let apps = store.list_apps()?;
            let urls = store
                .list_functions()?
                .into_iter()
                .flat_map(|f| {
                    let name = f.config.name.clone();
                    f.urls.into_iter().map(move |(q, u)| UrlRoute {
                        url_id: u.url_id,
                        function: name.clone(),
                        qualifier: (!q.is_empty()).then_some(q),
                        cors: u.cors.and_then(|c| cors_of(&c)),
                        auth_type: u.auth_type,
                    })
                })
                .collect();
            Ok((apps, urls))
        })
        .await
    }

    /// Every app with `http` in place of the stored stage it replaces, checked to
    /// compile into one route table with the Function URLs.
    async fn beside_the_rest(&self, http: AppHttp) -> Result<(Vec<AppHttp>, Vec<UrlRoute>)> {
        let (mut apps, urls) = self.front_state().await?;
        apps.retain(|a| !(a.app == http.app && a.stage == http.stage));
        apps.push(http);
        self.front
            .check(&apps, &urls)
            .map_err(ApiError::InvalidParameter)?;
        Ok((apps, urls))
    }

    /// Hands the front door everything it serves, and the scheduler every schedule,
    /// after any change to them.
    pub(crate) async fn publish_front(&self) -> Result<()> {
        let (apps, urls) = self.front_state().await?;
        self.scheduler.set(&apps);
        self.front.serve(apps, urls);
        Ok(())
    }
}

/// A Function URL's `Cors` (AWS's shape) as the front door's.
fn cors_of(v: &serde_json::Value) -> Option<ondol_core::manifest::Cors> {
    let list = |k: &str| -> Vec<String> {
        v.get(k)
            .and_then(|x| x.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(ondol_core::manifest::Cors {
        allow_origins: list("AllowOrigins"),
        allow_methods: list("AllowMethods"),
        allow_headers: list("AllowHeaders"),
        expose_headers: list("ExposeHeaders"),
        max_age: v.get("MaxAge").and_then(serde_json::Value::as_u64),
        allow_credentials: v
            .get("AllowCredentials")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
    })
}

/// An app's stage as sent, hosts lower-cased, checked by the manifest's own rules
/// (any client can send one); errors are `key: message` with the manifest's keys,
/// which `ondol deploy` prefixes with the file.
fn parse_app(app: &str, body: &Bytes) -> Result<AppHttp> {
    let mut http: AppHttp = parse(body)?;
    if http.app != app {
        return Err(ApiError::InvalidParameter(format!(
            "app in the body ({}) must be {app}",
            http.app
        )));
    }
    if http.stage != ondol_core::manifest::DEFAULT_STAGE {
        ondol_core::manifest::check_stage_name(&http.stage)
            .map_err(|m| ApiError::InvalidParameter(format!("stages.{}: {m}", http.stage)))?;
    }
    for h in &mut http.hosts {
        *h = h.trim().to_ascii_lowercase();
    }
    ondol_core::manifest::check_http(&http)
        .map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
    check_schedules(&http)?;
    Ok(http)
}

/// Each schedule's name, expression, time zone and policies, keyed as in the
/// manifest.
fn check_schedules(http: &AppHttp) -> Result<()> {
    let bad = |m: String| ApiError::InvalidParameter(m);
    for (i, s) in http.schedules.iter().enumerate() {
        if !ondol_core::name::valid_name(&s.name)
            || http.schedules[..i].iter().any(|o| o.name == s.name)
        {
            return Err(bad(format!(
                "schedules[{i}].name: expected a unique name of [a-zA-Z0-9-_], got {:?}",
                s.name
            )));
        }
        ondol_events::scheduler::validate(s).map_err(|e| bad(format!("schedules[{i}].{e}")))?;
        for (k, v, allowed) in [
            ("catch_up", &s.catch_up, &["none", "last", "all"][..]),
            ("overlap", &s.overlap, &["allow", "skip"][..]),
        ] {
            if !allowed.contains(&v.as_str()) {
                return Err(bad(format!(
                    "schedules[{i}].{k}: expected one of {allowed:?}, got {v:?}"
                )));
            }
        }
    }
    Ok(())
}

/// `POST /ondol/v1/apps/{app}/check`: whether this stage of the app would be
/// served beside everything else (no clashing routes, valid schedules), changing
/// nothing; a deploy asks before it publishes anything.
pub async fn check(
    State(api): State<Arc<Api>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let http = parse_app(&app, &body)?;
    api.beside_the_rest(http).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn put(
    State(api): State<Arc<Api>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let http = parse_app(&app, &body)?;
    let _w = api.writes.lock().await;
    for (i, r) in http.routes.iter().enumerate() {
        api.load(&r.function).await.map_err(|_| {
            ApiError::InvalidParameter(format!(
                "routes[{i}].function: route \"{}\" points at function {} which does not exist",
                r.key, r.function
            ))
        })?;
    }
    for (i, s) in http.schedules.iter().enumerate() {
        api.load(&s.function).await.map_err(|_| {
            ApiError::InvalidParameter(format!(
                "schedules[{i}].function: schedule {} points at function {} which does not exist",
                s.name, s.function
            ))
        })?;
    }
    let (apps, urls) = api.beside_the_rest(http.clone()).await?;
    let store = api.store.clone();
    Api::blocking(move || Ok(store.put_app(&http)?)).await?;
    api.scheduler.set(&apps);
    api.front.serve(apps, urls);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list(State(api): State<Arc<Api>>) -> Result<Response> {
    let (apps, _) = api.front_state().await?;
    Ok(ok_json(StatusCode::OK, json!({ "apps": apps })))
}

/// `DELETE /ondol/v1/apps/{app}[?stage=S]`: the app's routes and schedules, of
/// every stage or of one.
pub async fn delete(
    State(api): State<Arc<Api>>,
    Path(app): Path<String>,
    axum::extract::Query(q): axum::extract::Query<StageQuery>,
) -> Result<Response> {
    let _w = api.writes.lock().await;
    let store = api.store.clone();
    let name = app.clone();
    let stage = q.stage.clone();
    let found = Api::blocking(move || {
        Ok(match &stage {
            Some(s) => store.delete_app_stage(&name, s)?,
            None => store.delete_app(&name)?,
        })
    })
    .await?;
    if !found {
        let what = q.stage.map(|s| format!(" stage {s}")).unwrap_or_default();
        return Err(ApiError::NotFound(format!("App not found: {app}{what}")));
    }
    api.publish_front().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /ondol/v1/info`: where the front door is, for `ondol deploy` to print URLs.
pub async fn info(State(api): State<Arc<Api>>) -> Result<Response> {
    Ok(ok_json(
        StatusCode::OK,
        json!({
            "http": api.http_base,
            "version": env!("CARGO_PKG_VERSION"),
            "region": api.engine.arn().region,
            "account": api.engine.arn().account,
        }),
    ))
}

/// `GET /ondol/v1/schedules`: each schedule, its next firing and recent runs.
pub async fn schedules(State(api): State<Arc<Api>>) -> Result<Response> {
    let scheduler = api.scheduler.clone();
    let views = Api::blocking(move || Ok(scheduler.view())).await?;
    Ok(ok_json(StatusCode::OK, json!({ "schedules": views })))
}

/// `POST /ondol/v1/apps/{app}/deploys`: records a deploy (kept in the store).
pub async fn add_deploy(
    State(api): State<Arc<Api>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let mut d: ondol_store::DeployRecord = parse(&body)?;
    d.app = app;
    d.at_ms = chrono::Utc::now().timestamp_millis();
    if d.outcome.starts_with("failed") {
        tracing::warn!(app = %d.app, stage = %d.stage, who = %d.who, outcome = %d.outcome, "deploy failed");
    } else {
        tracing::info!(app = %d.app, stage = %d.stage, who = %d.who, outcome = %d.outcome, versions = ?d.versions, "deploy");
    }
    let key = (
        d.app.clone(),
        d.stage.clone(),
        prom::deploy_outcome(&d.outcome),
    );
    let store = api.store.clone();
    let id = Api::blocking(move || Ok(store.add_deploy(&d)?)).await?;
    *api.deploy_counts.lock().entry(key).or_default() += 1;
    Ok(ok_json(StatusCode::CREATED, json!({ "id": id })))
}

/// `?stage=S`: one stage of an app.
#[derive(serde::Deserialize)]
pub struct StageQuery {
    stage: Option<String>,
}

/// `GET /ondol/v1/apps/{app}/deploys[?stage=S]`: the app's (or one stage's) last
/// 100 deploys, newest first.
pub async fn deploys(
    State(api): State<Arc<Api>>,
    Path(app): Path<String>,
    axum::extract::Query(q): axum::extract::Query<StageQuery>,
) -> Result<Response> {
    let store = api.store.clone();
    let all = Api::blocking(move || Ok(store.deploys(&app, q.stage.as_deref(), 100)?)).await?;
    Ok(ok_json(StatusCode::OK, json!({ "deploys": all })))
}
