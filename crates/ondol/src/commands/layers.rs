//! `ondol deploy`'s layers: each `[layers.NAME]` is packaged like a function and
//! published as a new version of `<app>-<NAME>` only when its content or settings
//! changed; then every function's `layers` become version ARNs, so a new layer
//! version changes the functions' fingerprints and they get new versions too,
//! warmed before the switch like any other change.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use base64::Engine as _;
use ondol_core::manifest::{DeployedLayer, Deployment, LayerUse};
use ondol_core::LayerRef;

use super::deploy::Progress;
use crate::api::types::{LayerSettings, PublishLayer, Zip};
use crate::api::Client;

/// Publishes what changed among `d`'s layers and returns `d` with every
/// function's layers as version ARNs.
pub async fn resolve(c: &Client, d: &Deployment, progress: &Progress) -> Result<Deployment> {
    let mut arns: BTreeMap<&str, String> = BTreeMap::new();
    for l in &d.layers {
        let arn = publish_if_changed(c, d, l, progress).await?;
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

/// The PublishLayerVersion settings for `l` (without the zip).
fn settings(l: &DeployedLayer) -> LayerSettings {
    LayerSettings {
        description: Some(l.description.clone()),
        compatible_runtimes: l.compatible_runtimes.clone(),
        license_info: l.license.clone(),
    }
}

async fn publish_if_changed(
    c: &Client,
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
    let newest = c.lambda().layer_versions(&l.name, 1).await?;
    if let Some(n) = newest.and_then(|v| Some(v.layer_versions.first()?.version)) {
        let v = c.lambda().layer_version(&l.name, n).await?;
        if v.content.code_sha256 == pkg.sha256 && v.settings == settings(l) {
            progress.done(format!("layer {}: unchanged (version {n})", l.key));
            return Ok(v.layer_version_arn);
        }
    }
    progress.step(format!("publishing layer {}", l.key));
    let zip = base64::engine::general_purpose::STANDARD.encode(&pkg.zip);
    let body = PublishLayer {
        settings: &settings(l),
        content: Zip { zip_file: &zip },
    };
    let v = c.lambda().publish_layer(&l.name, &body).await?;
    if v.layer_version_arn.is_empty() {
        bail!(
            "publishing layer {}: the server answered without a LayerVersionArn",
            l.key
        );
    }
    progress.done(format!(
        "layer {}: version {} published ({kb} KB)",
        l.key, v.version
    ));
    Ok(v.layer_version_arn)
}
