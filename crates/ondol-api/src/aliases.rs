//! Aliases: names for versions, optionally splitting traffic with a second version
//! by weight (`RoutingConfig.AdditionalVersionWeights`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_store::{AliasRecord, FunctionRecord};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::functions::{check_revision, max_items, ok_json, parse, revision, Q};
use crate::names::resolve;
use crate::shapes::alias;
use crate::Api;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoutingIn {
    additional_version_weights: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasIn {
    name: Option<String>,
    function_version: Option<String>,
    description: Option<String>,
    routing_config: Option<RoutingIn>,
    revision_id: Option<String>,
}

/// Alias names match `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`, at most 128 characters.
fn valid_alias(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.bytes().all(|b| b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_target(
    rec: &FunctionRecord,
    version: &str,
    weights: &BTreeMap<String, f64>,
) -> Result<()> {
    let exists = |v: &str| v == "$LATEST" || rec.version(v).is_some();
    if !exists(version) {
        return Err(ApiError::NotFound(format!(
            "Function not found: {}:{version}",
            rec.config.name
        )));
    }
    if weights.len() > 1 {
        return Err(ApiError::InvalidParameter(
            "RoutingConfig.AdditionalVersionWeights may name one additional version".into(),
        ));
    }
    for (v, w) in weights {
        if !(0.0..=1.0).contains(w) {
            return Err(ApiError::InvalidParameter(format!(
                "The weight {w} of version {v} must be between 0.0 and 1.0"
            )));
        }
        if v == "$LATEST" || v == version {
            return Err(ApiError::InvalidParameter(format!(
                "The additional version {v} must be a published version other than the alias's FunctionVersion"
            )));
        }
        if !exists(v) {
            return Err(ApiError::NotFound(format!(
                "Function not found: {}:{v}",
                rec.config.name
            )));
        }
    }
    Ok(())
}

fn not_found(rec: &FunctionRecord, name: &str) -> ApiError {
    ApiError::NotFound(format!("Cannot find alias arn: {}:{name}", rec.config.name))
}

pub async fn create(
    State(api): State<Arc<Api>>,
    Path(fname): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let input: AliasIn = parse(&body)?;
    let (fname, _) = resolve(&fname, None)?;
    let name = input.name.clone().unwrap_or_default();
    if !valid_alias(&name) {
        return Err(ApiError::InvalidParameter(format!(
            "Alias name '{name}' is invalid: it must match (?!^[0-9]+$)([a-zA-Z0-9-_]+) and be at most 128 characters"
        )));
    }
    let version = input
        .function_version
        .clone()
        .ok_or_else(|| ApiError::InvalidParameter("FunctionVersion is required".into()))?;
    let weights = input
        .routing_config
        .and_then(|r| r.additional_version_weights)
        .unwrap_or_default();
    let (rec, a) = api
        .mutate(&fname, |rec| {
            if rec.aliases.contains_key(&name) {
                return Err(ApiError::Conflict(format!(
                    "Alias already exists: {}:{name}",
                    rec.config.name
                )));
            }
            check_target(rec, &version, &weights)?;
            let a = AliasRecord {
                name: name.clone(),
                function_version: version,
                description: input.description.unwrap_or_default(),
                weights,
                revision_id: revision(),
                lease: None,
            };
            rec.aliases.insert(name.clone(), a.clone());
            Ok(a)
        })
        .await?;
    Ok(ok_json(
        StatusCode::CREATED,
        alias(api.engine.arn(), &rec.config.name, &a),
    ))
}

pub async fn get(
    State(api): State<Arc<Api>>,
    Path((fname, name)): Path<(String, String)>,
) -> Result<Response> {
    let (fname, _) = resolve(&fname, None)?;
    let rec = api.load(&fname).await?;
    let a = rec
        .aliases
        .get(&name)
        .ok_or_else(|| not_found(&rec, &name))?;
    Ok(ok_json(StatusCode::OK, alias(api.engine.arn(), &fname, a)))
}

pub async fn update(
    State(api): State<Arc<Api>>,
    Path((fname, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let input: AliasIn = parse(&body)?;
    let (fname, _) = resolve(&fname, None)?;
    let (rec, a) = api
        .mutate(&fname, |rec| {
            let mut a = rec
                .aliases
                .get(&name)
                .cloned()
                .ok_or_else(|| not_found(rec, &name))?;
            check_revision(&a.revision_id, input.revision_id.as_deref())?;
            if let Some(v) = input.function_version {
                a.function_version = v;
            }
            if let Some(d) = input.description {
                a.description = d;
            }
            if let Some(r) = input.routing_config {
                a.weights = r.additional_version_weights.unwrap_or_default();
            }
            check_target(rec, &a.function_version, &a.weights)?;
            a.revision_id = revision();
            rec.aliases.insert(name.clone(), a.clone());
            Ok(a)
        })
        .await?;
    Ok(ok_json(
        StatusCode::OK,
        alias(api.engine.arn(), &rec.config.name, &a),
    ))
}

pub async fn delete(
    State(api): State<Arc<Api>>,
    Path((fname, name)): Path<(String, String)>,
) -> Result<Response> {
    let (fname, _) = resolve(&fname, None)?;
    if api.leased(&fname, &name) {
        return Err(ApiError::Conflict(format!(
            "{fname}:{name} is being shifted by a deploy; delete it once the deploy ends"
        )));
    }
    api.mutate(&fname, |rec| {
        rec.aliases
            .remove(&name)
            .ok_or_else(|| not_found(rec, &name))?;
        rec.provisioned.remove(&name);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list(
    State(api): State<Arc<Api>>,
    Path(fname): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (fname, _) = resolve(&fname, None)?;
    let max = max_items(&q)?;
    let rec = api.load(&fname).await?;
    let all: Vec<&AliasRecord> = rec
        .aliases
        .values()
        .filter(|a| {
            q.get("FunctionVersion")
                .is_none_or(|v| &a.function_version == v)
        })
        .collect();
    let start = match q.get("Marker") {
        Some(m) => all.partition_point(|a| a.name.as_str() < m.as_str()),
        None => 0,
    };
    let page: Vec<_> = all[start..]
        .iter()
        .take(max)
        .map(|a| alias(api.engine.arn(), &fname, a))
        .collect();
    let mut out = json!({ "Aliases": page });
    if let Some(next) = all.get(start + max) {
        out["NextMarker"] = next.name.clone().into();
    }
    Ok(ok_json(StatusCode::OK, out))
}
