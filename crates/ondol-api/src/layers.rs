//! Lambda layers: PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn,
//! ListLayers, ListLayerVersions and DeleteLayerVersion, with AWS's paths, shapes,
//! status codes and error wording; and the zip of a version for `Content.Location`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use http::StatusCode;
use ondol_core::name::valid_layer_name;
use ondol_core::{Arn, LayerArn};
use ondol_store::{BlobInfo, LayerVersionRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, Result};
use crate::functions::{now_rfc, ok_json, parse, Q};
use crate::Api;

/// The runtimes a layer may declare (Lambda's list, current and deprecated).
const RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "java8",
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "java25",
    "dotnet6",
    "dotnet8",
    "dotnet10",
    "dotnetcore3.1",
    "go1.x",
    "ruby2.7",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "provided",
    "provided.al2",
    "provided.al2023",
];
const ARCHITECTURES: &[&str] = &["x86_64", "arm64"];
/// AWS's pattern for a layer version ARN, quoted in its validation errors.
const ARN_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContentIn {
    zip_file: Option<String>,
    s3_bucket: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishIn {
    #[serde(default)]
    content: ContentIn,
    description: Option<String>,
    compatible_runtimes: Option<Vec<String>>,
    compatible_architectures: Option<Vec<String>>,
    license_info: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::NotFound("The resource you requested does not exist.".into())
}

/// A layer name from a path: a name, or this server's layer ARN without version.
fn layer_name(api: &Api, given: &str) -> Result<String> {
    if let Some(a) = LayerArn::parse(given).filter(|a| a.version.is_none()) {
        if a.region != api.engine.arn().region || a.account != api.engine.arn().account {
            return Err(not_found());
        }
        return Ok(a.name);
    }
    if valid_layer_name(given) {
        return Ok(given.to_string());
    }
    Err(ApiError::Validation(format!(
        "1 validation error detected: Value '{given}' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
    )))
}

/// A version number from a path (Lambda refuses 0 and below before looking).
fn version_number(given: &str) -> Result<u32> {
    let n: i64 = given.parse().map_err(|_| {
        ApiError::InvalidParameter(format!("Layer version '{given}' is not a number"))
    })?;
    if n < 1 {
        return Err(ApiError::InvalidParameter(
            "Layer Version Cannot be less than 1".into(),
        ));
    }
    u32::try_from(n).map_err(|_| not_found())
}

/// Lambda's enum check, one message per member that fails.
fn check_enums(runtimes: &[String], archs: &[String], plural: bool) -> Result<()> {
    let (rk, ak) = if plural {
        ("compatibleRuntimes", "compatibleArchitectures")
    } else {
        ("compatibleRuntime", "compatibleArchitecture")
    };
    let mut errors = Vec::new();
    if runtimes.iter().any(|r| !RUNTIMES.contains(&r.as_str())) {
        errors.push(format!(
            "Value '{}' at '{rk}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            shown(runtimes, plural),
            RUNTIMES.join(", ")
        ));
    }
    if archs.iter().any(|a| !ARCHITECTURES.contains(&a.as_str())) {
        errors.push(format!(
            "Value '{}' at '{ak}' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]",
            shown(archs, plural)
        ));
    }
    if runtimes.len() > 15 || archs.len() > 2 {
        errors.push("a layer declares at most 15 runtimes and 2 architectures".into());
    }
    if errors.is_empty() {
        return Ok(());
    }
    let s = if errors.len() > 1 { "s" } else { "" };
    Err(ApiError::Validation(format!(
        "{} validation error{s} detected: {}",
        errors.len(),
        errors.join("; ")
    )))
}

fn shown(values: &[String], list: bool) -> String {
    if list {
        format!("[{}]", values.join(", "))
    } else {
        values.join(", ")
    }
}

/// A version as Lambda shows it; `full` adds `LayerArn` and `Content` (Get/Publish).
fn version_json(arn: &Arn, r: &LayerVersionRecord, full: bool) -> Value {
    let mut v = json!({
        "LayerVersionArn": arn.layer_version(&r.name, r.version),
        "Version": r.version,
        "Description": r.description,
        "CreatedDate": r.created,
    });
    if let Some(x) = &r.compatible_runtimes {
        v["CompatibleRuntimes"] = json!(x);
    }
    if let Some(x) = &r.compatible_architectures {
        v["CompatibleArchitectures"] = json!(x);
    }
    if let Some(x) = &r.license_info {
        v["LicenseInfo"] = json!(x);
    }
    if full {
        v["LayerArn"] = arn.layer(&r.name).into();
        v["Content"] = json!({
            "Location": format!("/ondol/v1/layers/{}/versions/{}/content", r.name, r.version),
            "CodeSha256": BlobInfo::b64_of_hex(&r.code_sha256),
            "CodeSize": r.code_size,
        });
    }
    v
}

fn decode_zip(api: &Api, content: ContentIn) -> Result<Vec<u8>> {
    if content.s3_bucket.is_some() {
        return Err(ApiError::InvalidParameter(
            "Content must be given as ZipFile: ondol does not fetch S3 objects".into(),
        ));
    }
    let b64 = content
        .zip_file
        .ok_or_else(|| ApiError::InvalidParameter("Content.ZipFile is required".into()))?;
    let zip = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| ApiError::InvalidParameter(format!("ZipFile is not valid base64: {e}")))?;
    if zip.len() as u64 > api.max_code_bytes {
        return Err(ApiError::RequestTooLarge(format!(
            "Zipped layer of {} bytes exceeds the limit of {} bytes",
            zip.len(),
            api.max_code_bytes
        )));
    }
    Ok(zip)
}

/// `POST /2018-10-31/layers/{LayerName}/versions`
pub async fn publish(
    State(api): State<Arc<Api>>,
    Path(given): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let name = layer_name(&api, &given)?;
    let input: PublishIn = parse(&body)?;
    check_enums(
        input.compatible_runtimes.as_deref().unwrap_or_default(),
        input
            .compatible_architectures
            .as_deref()
            .unwrap_or_default(),
        true,
    )?;
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 256)
    {
        return Err(ApiError::InvalidParameter(
            "Description is too long: it must be at most 256 characters".into(),
        ));
    }
    let zip = decode_zip(&api, input.content)?;
    let files = api.blobs.clone();
    let staged = Api::blocking(move || Ok(files.layers.stage(zip)?)).await?;
    let rec = LayerVersionRecord {
        name,
        version: 0,
        description: input.description.unwrap_or_default(),
        compatible_runtimes: input.compatible_runtimes,
        compatible_architectures: input.compatible_architectures,
        license_info: input.license_info,
        code_sha256: staged.info.sha256_hex.clone(),
        code_size: staged.info.size,
        unzipped_size: staged.unzipped_size,
        created: now_rfc(),
        deleted: false,
    };
    let _w = api.writes.lock().await;
    let (store, files, mut r) = (api.store.clone(), api.blobs.clone(), rec);
    let rec = Api::blocking(move || {
        r.version = match store.publish_layer(&r) {
            Ok(v) => v,
            Err(e) => {
                files.layers.discard(staged);
                return Err(e.into());
            }
        };
        if let Err(e) = files.layers.keep(staged, &r.name, r.version) {
            let _ = store.purge_layer_version(&r.name, r.version);
            return Err(e.into());
        }
        Ok(r)
    })
    .await?;
    Ok(ok_json(
        StatusCode::CREATED,
        version_json(api.engine.arn(), &rec, true),
    ))
}

/// A live (not deleted) version, or ResourceNotFoundException.
async fn live(api: &Api, name: &str, version: u32) -> Result<LayerVersionRecord> {
    let (store, n) = (api.store.clone(), name.to_string());
    Api::blocking(move || Ok(store.layer_version(&n, version)?))
        .await?
        .filter(|r| !r.deleted)
        .ok_or_else(not_found)
}

/// `GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber}`
pub async fn get(
    State(api): State<Arc<Api>>,
    Path((given, version)): Path<(String, String)>,
) -> Result<Response> {
    let version = version_number(&version)?;
    let name = layer_name(&api, &given)?;
    let rec = live(&api, &name, version).await?;
    Ok(ok_json(
        StatusCode::OK,
        version_json(api.engine.arn(), &rec, true),
    ))
}

/// `GET /2018-10-31/layers?find=LayerVersion&Arn=` (GetLayerVersionByArn), else ListLayers.
pub async fn list_or_find(State(api): State<Arc<Api>>, Query(q): Q) -> Result<Response> {
    if q.get("find").map(String::as_str) == Some("LayerVersion") {
        let given = q.get("Arn").cloned().unwrap_or_default();
        let arn = LayerArn::parse(&given)
            .filter(|a| a.version.is_some())
            .ok_or_else(|| {
                ApiError::Validation(format!(
                    "1 validation error detected: Value '{given}' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: {ARN_PATTERN}"
                ))
            })?;
        let ours = api.engine.arn();
        if arn.region != ours.region || arn.account != ours.account {
            return Err(not_found());
        }
        let rec = live(&api, &arn.name, arn.version.unwrap_or_default()).await?;
        return Ok(ok_json(StatusCode::OK, version_json(ours, &rec, true)));
    }
    let filter = Filter::of(&q)?;
    let by_name = live_versions(&api).await?;
    let mut items = Vec::new();
    for (name, versions) in &by_name {
        if let Some(latest) = versions.iter().rev().find(|r| filter.matches(r)) {
            items.push((
                name.clone(),
                json!({
                    "LayerName": name,
                    "LayerArn": api.engine.arn().layer(name),
                    "LatestMatchingVersion": version_json(api.engine.arn(), latest, false),
                }),
            ));
        }
    }
    let (page, next) = paginate(items, q.get("Marker"), max_items(&q)?);
    let mut out = json!({ "Layers": page });
    if let Some(m) = next {
        out["NextMarker"] = m.into();
    }
    Ok(ok_json(StatusCode::OK, out))
}

/// `GET /2018-10-31/layers/{LayerName}/versions`: newest first.
pub async fn list_versions(
    State(api): State<Arc<Api>>,
    Path(given): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let filter = Filter::of(&q)?;
    let name = layer_name(&api, &given)?;
    let by_name = live_versions(&api).await?;
    let items: Vec<(String, Value)> = by_name
        .get(&name)
        .map(|vs| {
            vs.iter()
                .rev()
                .filter(|r| filter.matches(r))
                .map(|r| {
                    (
                        r.version.to_string(),
                        version_json(api.engine.arn(), r, false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let (page, next) = paginate(items, q.get("Marker"), max_items(&q)?);
    let mut out = json!({ "LayerVersions": page });
    if let Some(m) = next {
        out["NextMarker"] = m.into();
    }
    Ok(ok_json(StatusCode::OK, out))
}

/// `DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber}`: 204 whether or
/// not it existed, as Lambda; functions using it keep it.
pub async fn delete(
    State(api): State<Arc<Api>>,
    Path((given, version)): Path<(String, String)>,
) -> Result<Response> {
    let version = version_number(&version)?;
    let name = layer_name(&api, &given)?;
    let _w = api.writes.lock().await;
    let store = api.store.clone();
    let deleted = Api::blocking(move || Ok(store.delete_layer_version(&name, version)?)).await?;
    if deleted {
        crate::layer_use::sweep(&api).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /ondol/v1/layers/{name}/versions/{version}/content`: the zip.
pub async fn content(
    State(api): State<Arc<Api>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response> {
    let version = version_number(&version)?;
    let name = layer_name(&api, &name)?;
    live(&api, &name, version).await?;
    let bytes = tokio::fs::read(api.blobs.layers.zip_path(&name, version))
        .await
        .map_err(|_| not_found())?;
    Ok(([("content-type", "application/zip")], bytes).into_response())
}

/// Live versions by layer name, oldest first.
async fn live_versions(api: &Api) -> Result<BTreeMap<String, Vec<LayerVersionRecord>>> {
    let store = api.store.clone();
    let all = Api::blocking(move || Ok(store.layer_versions()?)).await?;
    let mut out: BTreeMap<String, Vec<LayerVersionRecord>> = BTreeMap::new();
    for r in all.into_iter().filter(|r| !r.deleted) {
        out.entry(r.name.clone()).or_default().push(r);
    }
    Ok(out)
}

/// `CompatibleRuntime` / `CompatibleArchitecture` of the list operations.
struct Filter {
    runtime: Option<String>,
    arch: Option<String>,
}

impl Filter {
    fn of(q: &std::collections::HashMap<String, String>) -> Result<Self> {
        let runtime = q.get("CompatibleRuntime").cloned();
        let arch = q.get("CompatibleArchitecture").cloned();
        check_enums(runtime.as_slice(), arch.as_slice(), false)?;
        Ok(Self { runtime, arch })
    }

    fn matches(&self, r: &LayerVersionRecord) -> bool {
        let has = |list: &Option<Vec<String>>, want: &Option<String>| match want {
            None => true,
            Some(w) => list.as_ref().is_some_and(|l| l.contains(w)),
        };
        has(&r.compatible_runtimes, &self.runtime) && has(&r.compatible_architectures, &self.arch)
    }
}

/// `MaxItems` of the layer lists (1–50, default 50).
fn max_items(q: &std::collections::HashMap<String, String>) -> Result<usize> {
    match q.get("MaxItems") {
        None => Ok(50),
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| ApiError::InvalidParameter("MaxItems must be between 1 and 50".into())),
    }
}

/// One page of keyed items starting at `marker` (a key), and the next page's key.
fn paginate(
    items: Vec<(String, Value)>,
    marker: Option<&String>,
    max: usize,
) -> (Vec<Value>, Option<String>) {
    let start = marker.map_or(0, |m| {
        items
            .iter()
            .position(|(k, _)| k == m)
            .unwrap_or(items.len())
    });
    let next = items.get(start + max).map(|(k, _)| k.clone());
    let page = items
        .into_iter()
        .skip(start)
        .take(max)
        .map(|(_, v)| v)
        .collect();
    (page, next)
}
