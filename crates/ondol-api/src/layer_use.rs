//! Layers as functions use them: `Layers` on CreateFunction and
//! UpdateFunctionConfiguration checked as Lambda does (at most 5, one version per
//! layer, each existing here, code plus layers within 250 MB unzipped), the merged
//! `/opt` directory of a version, and the clean-up of deleted versions no function
//! references any more.

use std::collections::HashSet;
use std::path::PathBuf;

use ondol_core::{LayerArn, LayerRef};
use ondol_store::FunctionRecord;

use crate::error::{ApiError, Result};
use crate::Api;

/// Lambda's limit on a function's code plus all its layers, unzipped.
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
/// Layers one function may use.
const MAX_LAYERS: usize = 5;

/// The (name, version) a stored reference names.
fn name_version(r: &LayerRef) -> Option<(String, u32)> {
    let a = LayerArn::parse(&r.arn)?;
    Some((a.name, a.version?))
}

/// Checks the `Layers` of a request and returns them as references. A version
/// deleted since is accepted only if the function already uses it (`current`).
pub async fn resolve(api: &Api, arns: &[String], current: &[LayerRef]) -> Result<Vec<LayerRef>> {
    if arns.len() > MAX_LAYERS {
        return Err(ApiError::InvalidParameter(
            "Cannot reference more than 5 layers.".into(),
        ));
    }
    let ours = api.engine.arn();
    let mut seen: Vec<(&str, LayerArn)> = Vec::new();
    let mut out = Vec::new();
    for given in arns {
        let arn = LayerArn::parse(given)
            .filter(|a| a.version.is_some())
            .ok_or_else(|| ApiError::Validation(format!(
                "1 validation error detected: Value '[{}]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+), Member must not be null]",
                arns.join(", ")
            )))?;
        if arn.region != ours.region {
            return Err(ApiError::InvalidParameter(format!(
                "Layers are not in the same region as the function. Layers are expected to be in region {}.",
                ours.region
            )));
        }
        if let Some((first, _)) = seen.iter().find(|(_, a)| a.name == arn.name) {
            return Err(ApiError::InvalidParameter(format!(
                "Two different versions of the same layer are not allowed to be referenced in the same function. {first} and {given} are versions of the same layer."
            )));
        }
        let missing = || {
            let mut m = format!("Layer version {given} does not exist.");
            if arn.account != ours.account {
                m.push_str(&format!(
                    " This server holds only layers published to it, in account {}.",
                    ours.account
                ));
            }
            ApiError::InvalidParameter(m)
        };
        if arn.account != ours.account {
            return Err(missing());
        }
        let (store, n, v) = (
            api.store.clone(),
            arn.name.clone(),
            arn.version.unwrap_or(0),
        );
        let rec = Api::blocking(move || Ok(store.layer_version(&n, v)?)).await?;
        let kept = current.iter().any(|c| c.arn == *given);
        let rec = rec.filter(|r| !r.deleted || kept).ok_or_else(missing)?;
        out.push(LayerRef {
            arn: given.clone(),
            code_size: rec.code_size,
        });
        seen.push((given, arn));
    }
    Ok(out)
}

/// Refuses code plus layers over Lambda's unzipped limit, with Lambda's words.
pub async fn check_size(api: &Api, code_sha256: &str, layers: &[LayerRef]) -> Result<()> {
    if layers.is_empty() {
        return Ok(());
    }
    let (blobs, store, sha) = (
        api.blobs.clone(),
        api.store.clone(),
        code_sha256.to_string(),
    );
    let refs: Vec<(String, u32)> = layers.iter().filter_map(name_version).collect();
    let total = Api::blocking(move || {
        let mut total = blobs.unzipped_size(&sha)?;
        for (n, v) in refs {
            total += store.layer_version(&n, v)?.map_or(0, |r| r.unzipped_size);
        }
        Ok(total)
    })
    .await?;
    if total > MAX_UNZIPPED_BYTES {
        return Err(ApiError::InvalidParameter(format!(
            "Function code combined with layers exceeds the maximum allowed size of {MAX_UNZIPPED_BYTES} bytes. The actual size is {total} bytes."
        )));
    }
    Ok(())
}

/// The merged directory a version's instances see at `/opt`, if it has layers.
pub async fn opt_dir(api: &Api, layers: &[LayerRef]) -> Result<Option<PathBuf>> {
    if layers.is_empty() {
        return Ok(None);
    }
    let list = layers
        .iter()
        .map(|r| {
            name_version(r).ok_or_else(|| {
                ApiError::Service(format!("stored layer ARN {} is malformed", r.arn))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let blobs = api.blobs.clone();
    Api::blocking(move || Ok(blobs.layers.merged(&list)?))
        .await
        .map(Some)
}

/// Every layer list some version of some function uses.
fn used(all: &[FunctionRecord]) -> Vec<Vec<(String, u32)>> {
    let mut lists: Vec<Vec<(String, u32)>> = Vec::new();
    for rec in all {
        let configs = std::iter::once(&rec.config).chain(rec.versions.iter().map(|v| &v.config));
        for c in configs.filter(|c| !c.layers.is_empty()) {
            let l: Vec<_> = c.layers.iter().filter_map(name_version).collect();
            if !lists.contains(&l) {
                lists.push(l);
            }
        }
    }
    lists
}

/// Forgets deleted layer versions no function version references, with their
/// files, and merged directories nothing uses. Called under the write lock.
pub async fn sweep(api: &Api) -> Result<()> {
    let (store, blobs) = (api.store.clone(), api.blobs.clone());
    Api::blocking(move || {
        let deleted: Vec<_> = store
            .layer_versions()?
            .into_iter()
            .filter(|r| r.deleted)
            .collect();
        let lists = used(&store.list_functions()?);
        let referenced: HashSet<&(String, u32)> = lists.iter().flatten().collect();
        for r in deleted {
            let key = (r.name.clone(), r.version);
            if !referenced.contains(&key) {
                store.purge_layer_version(&r.name, r.version)?;
                blobs.layers.remove(&r.name, r.version);
            }
        }
        blobs.layers.sweep_merged(&lists);
        Ok(())
    })
    .await
}

/// Whether a change dropped a layer list (so a sweep may free something).
pub fn dropped_layers(old: Option<&FunctionRecord>, new: Option<&FunctionRecord>) -> bool {
    let old = old
        .map(|o| used(std::slice::from_ref(o)))
        .unwrap_or_default();
    let new = new
        .map(|n| used(std::slice::from_ref(n)))
        .unwrap_or_default();
    old.iter().any(|l| !new.contains(l))
}
