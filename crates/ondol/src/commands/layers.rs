//! `ondol deploy`'s layers: each `[layers.NAME]` is packaged like a function and
//! published as a new version of `<app>-<NAME>` only when its content or settings
//! changed; then every function's `layers` become version ARNs, so a new layer
//! version changes the functions' fingerprints and they get new versions too,
//! warmed before the switch like any other change.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use base64::Engine as _;
use http::{Method, StatusCode};
use ondol_core::manifest::{DeployedLayer, Deployment, LayerUse};
use ondol_core::LayerRef;
use serde_json::{json, Value};

use super::deploy::{call, Progress};

/// Publishes what changed among `d`'s layers and returns `d` with every
/// function's layers as version ARNs.
pub async fn resolve(endpoint: &str, d: &Deployment, progress: &Progress) -> Result<Deployment> {
    let mut arns: BTreeMap<&str, String> = BTreeMap::new();
    for l in &d.layers {
        let arn = publish_if_changed(endpoint, d, l, progress).await?;
        arns.insert(&l.key, arn);
    }
    let mut out = d.clone();
    for f in &mut out.functions {
        f.config.layers = f
            .layers
            .iter()
            .map(|u| LayerRef {
                arn: match u {
                    LayerUse::Own(k) => arns.get(k.as_str()).cloned().unwrap_or_default(),
                    LayerUse::Arn(a) => a.clone(),
                },
                code_size: 0,
            })
            .collect();
    }
    Ok(out)
}

/// The PublishLayerVersion body for `l` (without the zip).
fn settings(l: &DeployedLayer) -> Value {
    let mut body = json!({ "Description": l.description });
    if !l.compatible_runtimes.is_empty() {
        body["CompatibleRuntimes"] = json!(l.compatible_runtimes);
    }
    if let Some(lic) = &l.license {
        body["LicenseInfo"] = json!(lic);
    }
    body
}

/// Whether a published version is `l` as packaged now (`sha256`: base64).
fn same(v: &Value, l: &DeployedLayer, sha256: &str) -> bool {
    let want = settings(l);
    let runtimes = |x: &Value| {
        x["CompatibleRuntimes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    v["Content"]["CodeSha256"].as_str() == Some(sha256)
        && v["Description"] == want["Description"]
        && runtimes(v) == runtimes(&want)
        && v.get("LicenseInfo") == want.get("LicenseInfo")
}

async fn publish_if_changed(
    endpoint: &str,
    d: &Deployment,
    l: &DeployedLayer,
    progress: &Progress,
) -> Result<String> {
    if !l.code_dir.is_dir() {
        bail!(
            "{}: layers.{}.code: expected a directory, but {} is not one",
            d.file,
            l.key,
            l.code_dir.display()
        );
    }
    progress.step(format!("packaging layer {}", l.key));
    let pkg = tokio::task::block_in_place(|| {
        crate::build::package_layer(&l.key, &l.code_dir, &l.compatible_runtimes, progress)
    })?;
    let kb = pkg.zip.len().div_ceil(1024);
    let base = format!("/2018-10-31/layers/{}/versions", l.name);
    let (status, list) = call(endpoint, Method::GET, &format!("{base}?MaxItems=1"), None).await?;
    if status == StatusCode::OK {
        if let Some(n) = list["LayerVersions"][0]["Version"].as_u64() {
            let (_, v) = call(endpoint, Method::GET, &format!("{base}/{n}"), None).await?;
            if same(&v, l, &pkg.sha256) {
                progress.done(format!("layer {}: unchanged (version {n})", l.key));
                return Ok(v["LayerVersionArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string());
            }
        }
    }
    progress.step(format!("publishing layer {}", l.key));
    let mut body = settings(l);
    body["Content"] =
        json!({ "ZipFile": base64::engine::general_purpose::STANDARD.encode(&pkg.zip) });
    let (_, v) = call(endpoint, Method::POST, &base, Some(body)).await?;
    let arn = v["LayerVersionArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if arn.is_empty() {
        bail!(
            "publishing layer {}: the server answered without a LayerVersionArn",
            l.key
        );
    }
    progress.done(format!(
        "layer {}: version {} published ({kb} KB)",
        l.key, v["Version"]
    ));
    Ok(arn)
}
