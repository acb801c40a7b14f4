//! `/ondol/v1/keys`: API keys for routes with `api_key_required`. A key's value
//! is made here, returned once and never stored (only its SHA-256); the front
//! door's [`KeyRing`] is replaced after every change, so a revoke is immediate.
//! Its quota counters are flushed here by the meter.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_core::keys::{ApiKey, QuotaUse};
use ondol_core::manifest::UsagePlan;
use rand::distributions::{Alphanumeric, DistString};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Result};
use crate::functions::{ok_json, parse};
use crate::Api;

/// API Gateway's keys are 40 characters: ~238 bits from the OS-seeded CSPRNG.
const VALUE_LEN: usize = 40;
/// Shown in lists, to tell keys apart (32 unknown characters remain).
const PREFIX_LEN: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    app: Option<String>,
    plan: Option<String>,
}

/// `POST /ondol/v1/keys`: `{name, app?, plan?}` → the key, with its value.
pub async fn create(State(api): State<Arc<Api>>, body: Bytes) -> Result<Response> {
    let c: CreateKey = parse(&body)?;
    if !ondol_core::name::valid_name(&c.name) || c.name.len() > 64 {
        return Err(ApiError::InvalidParameter(format!(
            "name: expected 1 to 64 characters of [a-zA-Z0-9-_], got {:?}",
            c.name
        )));
    }
    let _w = api.writes.lock().await;
    match (&c.app, &c.plan) {
        (None, Some(_)) => {
            return Err(ApiError::InvalidParameter(
                "plan: a usage plan belongs to an app: give the app too (--app)".into(),
            ))
        }
        (Some(app), plan) => check_app(&api, app, plan.as_deref()).await?,
        (None, None) => {}
    }
    let value = Alphanumeric.sample_string(&mut rand::thread_rng(), VALUE_LEN);
    let key = ApiKey {
        id: Alphanumeric
            .sample_string(&mut rand::thread_rng(), 10)
            .to_ascii_lowercase(),
        name: c.name,
        prefix: value[..PREFIX_LEN].to_string(),
        hash: hex::encode(Sha256::digest(value.as_bytes())),
        app: c.app,
        plan: c.plan,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let store = api.store.clone();
    let rec = key.clone();
    Api::blocking(move || Ok(store.create_key(&rec)?)).await?;
    api.publish_keys().await?;
    tracing::info!(key = %key.name, id = %key.id, app = ?key.app, plan = ?key.plan, "API key created");
    let mut out = shape(&key, None);
    out["value"] = Value::String(value);
    Ok(ok_json(StatusCode::CREATED, out))
}

/// The app exists and defines the plan (in any of its stages).
async fn check_app(api: &Arc<Api>, app: &str, plan: Option<&str>) -> Result<()> {
    let stages: Vec<_> = api.apps_named(app).await?;
    if stages.is_empty() {
        return Err(ApiError::NotFound(format!(
            "App not found: {app} (deploy it first)"
        )));
    }
    if let Some(p) = plan {
        if !stages.iter().any(|s| s.contains_key(p)) {
            let known: Vec<&String> = stages.iter().flat_map(|s| s.keys()).collect();
            return Err(ApiError::InvalidParameter(format!(
                "plan: app {app} has no usage plan {p:?} (defined: {known:?}); add [usage_plans.{p}] to its ondol.toml"
            )));
        }
    }
    Ok(())
}

/// `GET /ondol/v1/keys`: every key (never a value) with its use of its quota.
pub async fn list(State(api): State<Arc<Api>>) -> Result<Response> {
    let store = api.store.clone();
    let keys = Api::blocking(move || Ok(store.list_keys()?)).await?;
    let live: std::collections::HashMap<String, QuotaUse> =
        api.keys.usage(false).into_iter().collect();
    let store = api.store.clone();
    let apps = Api::blocking(move || Ok(store.list_apps()?)).await?;
    let mut out = Vec::new();
    for k in &keys {
        let plan = match (&k.app, &k.plan) {
            (Some(app), Some(p)) => apps
                .iter()
                .filter(|a| &a.app == app)
                .find_map(|a| a.usage_plans.get(p).copied()),
            _ => None,
        };
        let mut v = shape(k, plan.as_ref());
        v["used"] = json!(live.get(&k.id).map_or(0, |u| u.used));
        out.push(v);
    }
    Ok(ok_json(StatusCode::OK, json!({ "keys": out })))
}

fn shape(k: &ApiKey, plan: Option<&UsagePlan>) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "app": k.app,
        "plan": k.plan,
        "created": k.created,
        "quota": plan.and_then(|p| p.quota),
        "rate": plan.and_then(|p| p.rate),
    })
}

/// `DELETE /ondol/v1/keys/{name}`: refused by the front door from now on.
pub async fn revoke(State(api): State<Arc<Api>>, Path(name): Path<String>) -> Result<Response> {
    let _w = api.writes.lock().await;
    let store = api.store.clone();
    let n = name.clone();
    let gone = Api::blocking(move || Ok(store.delete_key(&n)?)).await?;
    let Some(key) = gone else {
        return Err(ApiError::NotFound(format!("API key not found: {name}")));
    };
    api.publish_keys().await?;
    tracing::info!(key = %key.name, id = %key.id, "API key revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl Api {
    /// Gives the front door every stored key.
    pub(crate) async fn publish_keys(&self) -> Result<()> {
        let store = self.store.clone();
        let keys = Api::blocking(move || Ok(store.list_keys()?)).await?;
        self.keys.set_keys(keys);
        Ok(())
    }

    /// At startup: the keys, then their counters as last flushed.
    pub(crate) async fn restore_keys(&self) -> Result<()> {
        self.publish_keys().await?;
        let store = self.store.clone();
        let usage = Api::blocking(move || Ok(store.key_usage()?)).await?;
        self.keys.seed_usage(usage);
        Ok(())
    }

    /// Writes the counters changed since the last flush (blocking: one transaction).
    pub(crate) fn flush_keys(&self) {
        let changed = self.keys.usage(true);
        if changed.is_empty() {
            return;
        }
        if let Err(e) = self.store.put_key_usage(&changed) {
            tracing::warn!(error = %e, keys = changed.len(), "could not record API key usage");
        }
    }

    /// The usage plans of each stored stage of an app.
    async fn apps_named(
        &self,
        app: &str,
    ) -> Result<Vec<std::collections::BTreeMap<String, UsagePlan>>> {
        let store = self.store.clone();
        let all = Api::blocking(move || Ok(store.list_apps()?)).await?;
        Ok(all
            .into_iter()
            .filter(|a| a.app == app)
            .map(|a| a.usage_plans)
            .collect())
    }
}
