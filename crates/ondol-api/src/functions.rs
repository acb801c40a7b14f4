//! Function CRUD. Each write validates everything first, then stores, then
//! installs the pool: a refused request leaves nothing half-created.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use bytes::Bytes;
use http::StatusCode;
use ondol_core::name::valid_name;
use ondol_core::FunctionConfig;
use ondol_engine::FunctionSpec;
use ondol_store::{BlobInfo, FunctionRecord};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::names::{latest_only, resolve};
use crate::shapes::{
    configuration, ConfigIn, CreateFunctionIn, UpdateCodeIn, UpdateConfigurationIn,
};
use crate::Api;

type Q = Query<HashMap<String, String>>;

/// Parses a request body into JSON; it must be an object.
fn json_body(body: &Bytes) -> Result<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::InvalidRequestContent(format!("Could not parse request body into json: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::InvalidRequestContent(
            "The request body must be a JSON object".into(),
        ));
    }
    Ok(v)
}

/// Reads typed members from a body; a wrong type names the member.
fn members<T: DeserializeOwned>(v: &serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        ApiError::InvalidParameter(format!("Invalid value for {}: {}", e.path(), e.inner()))
    })
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T> {
    members(&json_body(body)?)
}

fn now_rfc() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

fn revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Service(e.to_string()))?
}

/// Decodes and stores a base64 zip (validated and unpacked before it is kept).
async fn store_code(api: &Arc<Api>, zip_b64: &str) -> Result<BlobInfo> {
    let zip = base64::engine::general_purpose::STANDARD
        .decode(zip_b64.trim())
        .map_err(|e| ApiError::InvalidParameter(format!("ZipFile is not valid base64: {e}")))?;
    if zip.len() as u64 > api.max_code_bytes {
        return Err(ApiError::RequestTooLarge(format!(
            "Zipped code of {} bytes exceeds the limit of {} bytes",
            zip.len(),
            api.max_code_bytes
        )));
    }
    let blobs = api.blobs.clone();
    blocking(move || Ok(blobs.put(&zip)?)).await
}

fn validate(cfg: &FunctionConfig) -> Result<()> {
    if !valid_name(&cfg.name) {
        return Err(ApiError::InvalidParameter(format!(
            "FunctionName '{}' is invalid: it must be 1 to 64 characters of [a-zA-Z0-9-_]",
            cfg.name
        )));
    }
    cfg.validate().map_err(ApiError::InvalidParameter)
}

async fn load(api: &Arc<Api>, name: &str) -> Result<FunctionRecord> {
    let (store, n) = (api.store.clone(), name.to_string());
    blocking(move || Ok(store.get_function(&n)?))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Function not found: {}",
                api.engine.arn().function(name)
            ))
        })
}

/// Installs the `$LATEST` pool of a stored function.
async fn deploy(api: &Arc<Api>, rec: &FunctionRecord) -> Result<()> {
    let (blobs, sha) = (api.blobs.clone(), rec.code_sha256.clone());
    let code_dir = blocking(move || Ok(blobs.code_dir_checked(&sha)?)).await?;
    api.engine
        .deploy(FunctionSpec {
            config: rec.config.clone(),
            version: "$LATEST".into(),
            code_dir,
        })
        .await
        .map_err(ApiError::Service)
}

/// Loads every stored function into the engine at start-up.
pub async fn restore(api: &Arc<Api>) -> std::result::Result<usize, String> {
    let store = api.store.clone();
    let all = tokio::task::spawn_blocking(move || store.list_functions())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    for rec in &all {
        if let Err(e) = deploy(api, rec).await {
            tracing::error!(function = %rec.config.name, error = %e, "could not restore function");
        }
    }
    Ok(all.len())
}

fn ok_json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, Json(v)).into_response()
}

pub async fn create(State(api): State<Arc<Api>>, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    let config: ConfigIn = members(&body)?;
    let input: CreateFunctionIn = members(&body)?;
    let mut cfg = FunctionConfig::new(
        input.function_name.clone(),
        config.runtime.clone().unwrap_or_default(),
    );
    config.apply(&mut cfg);
    validate(&cfg)?;
    if input.code.s3_bucket.is_some() || input.code.image_uri.is_some() {
        return Err(ApiError::InvalidParameter(
            "Code must be given as ZipFile: ondol does not fetch S3 objects or images".into(),
        ));
    }
    let zip = input
        .code
        .zip_file
        .ok_or_else(|| ApiError::InvalidParameter("Code.ZipFile is required".into()))?;
    let _w = api.writes.lock().await;
    let (store, n) = (api.store.clone(), cfg.name.clone());
    if blocking(move || Ok(store.get_function(&n)?))
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "Function already exist: {}",
            cfg.name
        )));
    }
    let info = store_code(&api, &zip).await?;
    let rec = FunctionRecord {
        config: cfg,
        code_sha256: info.sha256_hex,
        code_size: info.size,
        revision_id: revision(),
        last_modified: now_rfc(),
        tags: input.tags.unwrap_or_default(),
    };
    let (store, r) = (api.store.clone(), rec.clone());
    blocking(move || Ok(store.create_function(&r)?)).await?;
    if let Err(e) = deploy(&api, &rec).await {
        let (store, n) = (api.store.clone(), rec.config.name.clone());
        let _ = blocking(move || Ok(store.delete_function(&n)?)).await;
        return Err(e);
    }
    Ok(ok_json(
        StatusCode::CREATED,
        configuration(api.engine.arn(), &rec, "$LATEST"),
    ))
}

pub async fn list(State(api): State<Arc<Api>>, Query(q): Q) -> Result<Response> {
    let max = match q.get("MaxItems") {
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                ApiError::InvalidParameter("MaxItems must be between 1 and 10000".into())
            })?,
        None => 50,
    };
    let store = api.store.clone();
    let all = blocking(move || Ok(store.list_functions()?)).await?;
    let start = match q.get("Marker") {
        Some(m) => all.partition_point(|r| r.config.name.as_str() < m.as_str()),
        None => 0,
    };
    let page: Vec<_> = all[start..]
        .iter()
        .take(max)
        .map(|r| configuration(api.engine.arn(), r, "$LATEST"))
        .collect();
    let mut out = json!({ "Functions": page });
    if let Some(next) = all.get(start + max) {
        out["NextMarker"] = next.config.name.clone().into();
    }
    Ok(ok_json(StatusCode::OK, out))
}

pub async fn get(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = resolve(&name, q.get("Qualifier").map(String::as_str))?;
    latest_only(&name, qual.as_deref(), api.engine.arn())?;
    let rec = load(&api, &name).await?;
    let out = json!({
        "Configuration": configuration(api.engine.arn(), &rec, "$LATEST"),
        "Code": {
            "RepositoryType": "S3",
            "Location": format!("/ondol/v1/code/{}", rec.code_sha256),
        },
        "Tags": rec.tags,
    });
    Ok(ok_json(StatusCode::OK, out))
}

pub async fn get_configuration(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = resolve(&name, q.get("Qualifier").map(String::as_str))?;
    latest_only(&name, qual.as_deref(), api.engine.arn())?;
    let rec = load(&api, &name).await?;
    Ok(ok_json(
        StatusCode::OK,
        configuration(api.engine.arn(), &rec, "$LATEST"),
    ))
}

fn check_revision(rec: &FunctionRecord, given: Option<&str>) -> Result<()> {
    match given {
        Some(r) if r != rec.revision_id => Err(ApiError::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
        )),
        _ => Ok(()),
    }
}

/// Stores `rec` and installs it; the previous record comes back if that fails.
async fn replace(api: &Arc<Api>, old: FunctionRecord, rec: FunctionRecord) -> Result<Response> {
    let (store, r) = (api.store.clone(), rec.clone());
    blocking(move || Ok(store.update_function(&r)?)).await?;
    if let Err(e) = deploy(api, &rec).await {
        let store = api.store.clone();
        let _ = blocking(move || Ok(store.update_function(&old)?)).await;
        return Err(e);
    }
    Ok(ok_json(
        StatusCode::OK,
        configuration(api.engine.arn(), &rec, "$LATEST"),
    ))
}

pub async fn update_configuration(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let body = json_body(&body)?;
    let config: ConfigIn = members(&body)?;
    let input: UpdateConfigurationIn = members(&body)?;
    let (name, _) = resolve(&name, None)?;
    let _w = api.writes.lock().await;
    let old = load(&api, &name).await?;
    check_revision(&old, input.revision_id.as_deref())?;
    let mut rec = old.clone();
    config.apply(&mut rec.config);
    validate(&rec.config)?;
    rec.revision_id = revision();
    rec.last_modified = now_rfc();
    replace(&api, old, rec).await
}

pub async fn update_code(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let input: UpdateCodeIn = parse(&body)?;
    let (name, _) = resolve(&name, None)?;
    if input.s3_bucket.is_some() || input.image_uri.is_some() {
        return Err(ApiError::InvalidParameter(
            "Code must be given as ZipFile: ondol does not fetch S3 objects or images".into(),
        ));
    }
    let zip = input
        .zip_file
        .ok_or_else(|| ApiError::InvalidParameter("ZipFile is required".into()))?;
    let _w = api.writes.lock().await;
    let old = load(&api, &name).await?;
    check_revision(&old, input.revision_id.as_deref())?;
    let info = store_code(&api, &zip).await?;
    let mut rec = old.clone();
    rec.code_sha256 = info.sha256_hex;
    rec.code_size = info.size;
    if input.dry_run == Some(true) {
        return Ok(ok_json(
            StatusCode::OK,
            configuration(api.engine.arn(), &rec, "$LATEST"),
        ));
    }
    rec.revision_id = revision();
    rec.last_modified = now_rfc();
    replace(&api, old, rec).await
}

pub async fn delete(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = resolve(&name, q.get("Qualifier").map(String::as_str))?;
    if let Some(q) = qual.as_deref() {
        if q == "$LATEST" {
            return Err(ApiError::InvalidParameter(
                "$LATEST version cannot be deleted without deleting the function.".into(),
            ));
        }
        latest_only(&name, Some(q), api.engine.arn())?;
    }
    let _w = api.writes.lock().await;
    let (store, n) = (api.store.clone(), name.clone());
    if !blocking(move || Ok(store.delete_function(&n)?)).await? {
        return Err(ApiError::NotFound(format!(
            "Function not found: {}",
            api.engine.arn().function(&name)
        )));
    }
    api.engine.remove(&name, None);
    Ok(StatusCode::NO_CONTENT.into_response())
}
