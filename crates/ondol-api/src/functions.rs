//! Function CRUD. Each write validates everything first, then stores, then
//! installs the pools: a refused request leaves nothing half-created.

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
use ondol_store::{BlobInfo, FunctionRecord};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::catalog::version_of;
use crate::error::{ApiError, Result};
use crate::layer_use;
use crate::names::{for_create, invalid};

use crate::shapes::{
    configuration, ConfigIn, CreateFunctionIn, UpdateCodeIn, UpdateConfigurationIn, View,
};
use crate::versions::publish;
use crate::Api;

pub type Q = Query<HashMap<String, String>>;

/// Parses a request body into JSON; it must be an object.
pub fn json_body(body: &Bytes) -> Result<serde_json::Value> {
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
pub fn members<T: DeserializeOwned>(v: &serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        ApiError::InvalidParameter(format!("Invalid value for {}: {}", e.path(), e.inner()))
    })
}

pub fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T> {
    members(&json_body(body)?)
}

/// Lambda's time format.
pub fn now_rfc() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

pub fn revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn ok_json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, Json(v)).into_response()
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
    Api::blocking(move || Ok(blobs.put(&zip)?)).await
}

/// The members Lambda's model constrains before any rule of ours: Role and Architectures.
fn modeled(config: &ConfigIn) -> Result<()> {
    if let Some(role) = &config.role {
        if !valid_role(role) {
            return Err(invalid(role, "role", "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"));
        }
    }
    if let Some(archs) = &config.architectures {
        let shown = format!("[{}]", archs.join(", "));
        if archs.len() > 1 {
            return Err(invalid(
                &shown,
                "architectures",
                "Member must have length less than or equal to 1",
            ));
        }
        if archs.iter().any(|a| a != "x86_64" && a != "arm64") {
            return Err(invalid(&shown, "architectures", "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"));
        }
    }
    Ok(())
}

/// `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`
fn valid_role(role: &str) -> bool {
    let Some(rest) = role.strip_prefix("arn:") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(":iam::") else {
        return false;
    };
    let Some((account, path)) = rest.split_once(":role") else {
        return false;
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    (partition.is_empty()
        || (partition.starts_with("aws")
            && partition
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'-')))
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_/".contains(&b))
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

/// A runtime this node cannot run is refused, never substituted.
async fn check_runtime(api: &Api, cfg: &FunctionConfig) -> Result<()> {
    api.engine
        .check_runtime(cfg)
        .await
        .map_err(ApiError::InvalidParameter)
}

fn no_remote_code(s3: &Option<String>, image: &Option<String>) -> Result<()> {
    if s3.is_some() || image.is_some() {
        return Err(ApiError::InvalidParameter(
            "Code must be given as ZipFile: ondol does not fetch S3 objects or images".into(),
        ));
    }
    Ok(())
}

/// The configuration a qualifier names, with the ARN qualifier to show.
pub fn view_for<'a>(
    api: &Api,
    rec: &'a FunctionRecord,
    qualifier: Option<&str>,
) -> Result<View<'a>> {
    let name = &rec.config.name;
    let q = qualifier.unwrap_or("$LATEST");
    let version = version_of(rec, q).ok_or_else(|| api.not_found(name, Some(q)))?;
    View::of(rec, &version).ok_or_else(|| api.not_found(name, Some(q)))
}

/// The record of `name`; not found names the qualifier asked for, as AWS does.
/// The record a path's FunctionName and `?Qualifier=` name, with the qualifier.
async fn load_named(
    api: &Api,
    path_name: &str,
    q: &HashMap<String, String>,
) -> Result<(FunctionRecord, Option<String>)> {
    let qualifier = q.get("Qualifier").map(String::as_str);
    let (name, qual) = crate::names::here(api.engine.arn(), path_name, qualifier)?;
    let rec = load_as(api, &name, qual.as_deref()).await?;
    Ok((rec, qual))
}

async fn load_as(api: &Api, name: &str, qual: Option<&str>) -> Result<FunctionRecord> {
    match api.load(name).await {
        Err(ApiError::NotFound(_)) => Err(api.not_found(name, qual)),
        r => r,
    }
}

pub async fn create(State(api): State<Arc<Api>>, body: Bytes) -> Result<Response> {
    let body = json_body(&body)?;
    let mut config: ConfigIn = members(&body)?;
    let layers_in = config.layers.take();
    let input: CreateFunctionIn = members(&body)?;
    let fname = for_create(api.engine.arn(), &input.function_name)?;
    modeled(&config)?;
    let mut cfg = FunctionConfig::new(fname, config.runtime.clone().unwrap_or_default());
    config.apply(&mut cfg);
    validate(&cfg)?;
    check_runtime(&api, &cfg).await?;
    no_remote_code(&input.code.s3_bucket, &input.code.image_uri)?;
    let zip = input
        .code
        .zip_file
        .ok_or_else(|| ApiError::InvalidParameter("Code.ZipFile is required".into()))?;
    if let Some(arns) = &layers_in {
        cfg.layers = layer_use::resolve(&api, arns, &[]).await?;
    }
    let info = store_code(&api, &zip).await?;
    layer_use::check_size(&api, &info.sha256_hex, &cfg.layers).await?;
    let rec = FunctionRecord::new(
        cfg,
        info.sha256_hex,
        info.size,
        revision(),
        now_rfc(),
        input.tags.unwrap_or_default(),
    );
    let name = rec.config.name.clone();
    let mut rec = api.insert(rec).await?;
    let mut shown = "$LATEST".to_string();
    if input.publish == Some(true) {
        let (new, v) = api.mutate(&name, |r| publish(r, None)).await?;
        rec = new;
        shown = v;
    }
    let view = View::of(&rec, &shown).expect("just published");
    let q = (shown != "$LATEST").then_some(shown.as_str());
    Ok(ok_json(
        StatusCode::CREATED,
        configuration(api.engine.arn(), &view, q),
    ))
}

pub async fn list(State(api): State<Arc<Api>>, Query(q): Q) -> Result<Response> {
    let max = max_items(&q)?;
    let every = match q.get("FunctionVersion").map(String::as_str) {
        None => false,
        Some("ALL") => true,
        Some(v) => {
            return Err(invalid(
                v,
                "functionVersion",
                "Member must satisfy enum value set: [ALL]",
            ))
        }
    };
    let store = api.store.clone();
    let records = Api::blocking(move || Ok(store.list_functions()?)).await?;
    // One entry per configuration shown; the marker is its (qualified) ARN.
    let arn = api.engine.arn();
    let mut all: Vec<(String, serde_json::Value)> = Vec::new();
    for r in &records {
        all.push((
            arn.function(&r.config.name),
            configuration(arn, &View::latest(r), None),
        ));
        for v in r.versions.iter().filter(|_| every) {
            let n = v.version.to_string();
            if let Some(view) = View::of(r, &n) {
                let shown = configuration(arn, &view, Some(&n));
                all.push((arn.qualified(&r.config.name, Some(&n)), shown));
            }
        }
    }
    let (page, next) = page_after(all, q.get("Marker"), max);
    let mut out = json!({ "Functions": page });
    if let Some(m) = next {
        out["NextMarker"] = m.into();
    }
    Ok(ok_json(StatusCode::OK, out))
}

/// One page of keyed items after `marker` (the key of the last item shown
/// before), and the marker of the next page: the key of this page's last item
/// when more follow.
pub fn page_after(
    all: Vec<(String, serde_json::Value)>,
    marker: Option<&String>,
    max: usize,
) -> (Vec<serde_json::Value>, Option<String>) {
    let start = marker.map_or(0, |m| {
        all.iter()
            .position(|(k, _)| k == m)
            .map_or(all.len(), |i| i + 1)
    });
    let next = (start + max < all.len()).then(|| all[start + max - 1].0.clone());
    let page = all
        .into_iter()
        .skip(start)
        .take(max)
        .map(|(_, v)| v)
        .collect();
    (page, next)
}

/// `MaxItems` (1–10,000, default 50).
pub fn max_items(q: &HashMap<String, String>) -> Result<usize> {
    match q.get("MaxItems") {
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                ApiError::InvalidParameter("MaxItems must be between 1 and 10000".into())
            }),
        None => Ok(50),
    }
}

pub async fn get(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (rec, qual) = load_named(&api, &name, &q).await?;
    let view = view_for(&api, &rec, qual.as_deref())?;
    let mut out = json!({
        "Configuration": configuration(api.engine.arn(), &view, qual.as_deref()),
        "Code": {
            "RepositoryType": "S3",
            "Location": format!("/ondol/v1/code/{}", view.code_sha256),
        },
        "Tags": rec.tags,
    });
    if let Some(n) = rec.reserved_concurrency {
        out["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(ok_json(StatusCode::OK, out))
}

pub async fn get_configuration(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (rec, qual) = load_named(&api, &name, &q).await?;
    let view = view_for(&api, &rec, qual.as_deref())?;
    Ok(ok_json(
        StatusCode::OK,
        configuration(api.engine.arn(), &view, qual.as_deref()),
    ))
}

pub fn check_revision(current: &str, given: Option<&str>) -> Result<()> {
    match given {
        Some(r) if r != current => Err(ApiError::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
        )),
        _ => Ok(()),
    }
}

/// Only `$LATEST` can be changed: a qualified name is refused.
fn unqualified(api: &Api, path_name: &str) -> Result<String> {
    let (name, qual) = crate::names::here(api.engine.arn(), path_name, None)?;
    if let Some(q) = qual {
        return Err(ApiError::InvalidParameter(format!(
            "Only the unqualified function can be updated; remove the qualifier ':{q}'"
        )));
    }
    Ok(name)
}

pub async fn update_configuration(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let body = json_body(&body)?;
    let mut config: ConfigIn = members(&body)?;
    let input: UpdateConfigurationIn = members(&body)?;
    let name = unqualified(&api, &name)?;
    if let Some(r) = &config.runtime {
        check_runtime(&api, &FunctionConfig::new(name.clone(), r.clone())).await?;
    }
    let layers = match config.layers.take() {
        Some(arns) => {
            let current = api.load(&name).await?;
            let refs = layer_use::resolve(&api, &arns, &current.config.layers).await?;
            layer_use::check_size(&api, &current.code_sha256, &refs).await?;
            Some(refs)
        }
        None => None,
    };
    let (rec, ()) = api
        .mutate(&name, |rec| {
            check_revision(&rec.revision_id, input.revision_id.as_deref())?;
            let before = rec.config.clone();
            config.apply(&mut rec.config);
            if let Some(l) = layers {
                rec.config.layers = l;
            }
            validate(&rec.config)?;
            // An unchanged configuration changes nothing: no new revision, no restart.
            if rec.config != before {
                rec.revision_id = revision();
                rec.last_modified = now_rfc();
            }
            Ok(())
        })
        .await?;
    Ok(ok_json(
        StatusCode::OK,
        configuration(api.engine.arn(), &View::latest(&rec), None),
    ))
}

pub async fn update_code(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let input: UpdateCodeIn = parse(&body)?;
    let name = unqualified(&api, &name)?;
    no_remote_code(&input.s3_bucket, &input.image_uri)?;
    let zip = input
        .zip_file
        .ok_or_else(|| ApiError::InvalidParameter("ZipFile is required".into()))?;
    let info = store_code(&api, &zip).await?;
    let layers = api.load(&name).await?.config.layers;
    layer_use::check_size(&api, &info.sha256_hex, &layers).await?;
    if input.dry_run == Some(true) {
        let mut rec = api.load(&name).await?;
        check_revision(&rec.revision_id, input.revision_id.as_deref())?;
        rec.code_sha256 = info.sha256_hex;
        rec.code_size = info.size;
        return Ok(ok_json(
            StatusCode::OK,
            configuration(api.engine.arn(), &View::latest(&rec), None),
        ));
    }
    let publish_too = input.publish == Some(true);
    let (rec, shown) = api
        .mutate(&name, |rec| {
            check_revision(&rec.revision_id, input.revision_id.as_deref())?;
            if rec.code_sha256 != info.sha256_hex {
                rec.code_sha256 = info.sha256_hex;
                rec.code_size = info.size;
                rec.revision_id = revision();
                rec.last_modified = now_rfc();
            }
            if publish_too {
                publish(rec, None)
            } else {
                Ok("$LATEST".to_string())
            }
        })
        .await?;
    let view = View::of(&rec, &shown).expect("exists");
    let q = (shown != "$LATEST").then_some(shown.as_str());
    Ok(ok_json(
        StatusCode::OK,
        configuration(api.engine.arn(), &view, q),
    ))
}

pub async fn delete(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = crate::names::here(
        api.engine.arn(),
        &name,
        q.get("Qualifier").map(String::as_str),
    )?;
    match qual.as_deref() {
        None => api.remove(&name).await?,
        Some("$LATEST") => {
            return Err(ApiError::InvalidParameter(
                "$LATEST version cannot be deleted without deleting the function.".into(),
            ))
        }
        // A version already gone is deleted: AWS answers 204, and cleanups retry.
        Some(v) if api.load(&name).await?.version(v).is_none() => {}
        Some(v) => {
            let v = v.to_string();
            api.mutate(&name, |rec| crate::versions::delete_version(rec, &v))
                .await?;
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
