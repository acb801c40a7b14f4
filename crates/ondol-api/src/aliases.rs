//! Aliases: names for versions, optionally splitting traffic with a second version
//! by weight (`RoutingConfig.AdditionalVersionWeights`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_core::arn::Arn;
use ondol_store::{AliasRecord, FunctionRecord};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::functions::{check_revision, max_items, ok_json, parse, revision, Q};
use crate::names::invalid;

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

/// A weight as Java prints a float, which AWS's messages quote (`2.0`, `0.5`).
fn java(w: f64) -> String {
    if w.fract() == 0.0 {
        format!("{w:.1}")
    } else {
        w.to_string()
    }
}

/// The model's constraints on AdditionalVersionWeights, checked before anything is read.
fn check_weights(weights: &BTreeMap<String, f64>) -> Result<()> {
    let shown = || {
        let items: Vec<String> = weights
            .iter()
            .map(|(k, w)| format!("{k}={}", java(*w)))
            .collect();
        format!("{{{}}}", items.join(", "))
    };
    let at = "routingConfig.additionalVersionWeights";
    if weights.values().any(|w| !(0.0..=1.0).contains(w)) {
        return Err(invalid(&shown(), at, "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"));
    }
    if weights
        .keys()
        .any(|k| k.is_empty() || !k.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(&shown(), at, "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]"));
    }
    if weights.len() > 1 {
        return Err(ApiError::InvalidParameter(
            "Number of items in AdditionalVersionWeights cannot be greater than 1".into(),
        ));
    }
    Ok(())
}

fn check_target(
    arn: &Arn,
    rec: &FunctionRecord,
    version: &str,
    weights: &BTreeMap<String, f64>,
) -> Result<()> {
    let name = &rec.config.name;
    let missing = |v: &str| {
        ApiError::NotFound(format!(
            "Function not found: {}",
            arn.qualified(name, Some(v))
        ))
    };
    if version != "$LATEST" && rec.version(version).is_none() {
        return Err(missing(version));
    }
    if version == "$LATEST" && !weights.is_empty() {
        return Err(ApiError::InvalidParameter(
            "$LATEST is not supported for an alias pointing to more than 1 version".into(),
        ));
    }
    for v in weights.keys() {
        if v == version {
            return Err(ApiError::InvalidParameter(format!(
                "Invalid function version {v}. Function version {v} is already included in routing configuration."
            )));
        }
        if rec.version(v).is_none() {
            return Err(missing(v));
        }
    }
    Ok(())
}

pub async fn create(
    State(api): State<Arc<Api>>,
    Path(fname): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let input: AliasIn = parse(&body)?;
    let (fname, _) = crate::names::here(api.engine.arn(), &fname, None)?;
    let name = input.name.clone().unwrap_or_default();
    if !valid_alias(&name) {
        return Err(invalid(
            &name,
            "name",
            "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
        ));
    }
    let version = input
        .function_version
        .clone()
        .ok_or_else(|| ApiError::InvalidParameter("FunctionVersion is required".into()))?;
    let weights = input
        .routing_config
        .and_then(|r| r.additional_version_weights)
        .unwrap_or_default();
    check_weights(&weights)?;
    let arn = api.engine.arn();
    if let Err(ApiError::NotFound(_)) = api.load(&fname).await {
        return Err(api.not_found(&fname, Some(&version)));
    }
    let (rec, a) = api
        .mutate(&fname, |rec| {
            if rec.aliases.contains_key(&name) {
                return Err(ApiError::Conflict(format!(
                    "Alias already exists: {}",
                    arn.qualified(&rec.config.name, Some(&name))
                )));
            }
            check_target(arn, rec, &version, &weights)?;
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
    let (fname, _) = crate::names::here(api.engine.arn(), &fname, None)?;
    let rec = api.load(&fname).await?;
    let a = rec
        .aliases
        .get(&name)
        .ok_or_else(|| api.not_found(&fname, Some(&name)))?;
    Ok(ok_json(StatusCode::OK, alias(api.engine.arn(), &fname, a)))
}

pub async fn update(
    State(api): State<Arc<Api>>,
    Path((fname, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let input: AliasIn = parse(&body)?;
    let (fname, _) = crate::names::here(api.engine.arn(), &fname, None)?;
    let arn = api.engine.arn();
    let (rec, a) = api
        .mutate(&fname, |rec| {
            let mut a = rec.aliases.get(&name).cloned().ok_or_else(|| {
                ApiError::NotFound(format!(
                    "Alias not found: {}",
                    arn.qualified(&rec.config.name, Some(&name))
                ))
            })?;
            check_revision(&a.revision_id, input.revision_id.as_deref())?;
            if let Some(v) = input.function_version {
                a.function_version = v;
            }
            if let Some(d) = input.description {
                a.description = d;
            }
            if let Some(r) = input.routing_config {
                a.weights = r.additional_version_weights.unwrap_or_default();
                check_weights(&a.weights)?;
            }
            check_target(arn, rec, &a.function_version, &a.weights)?;
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
    let (fname, _) = crate::names::here(api.engine.arn(), &fname, None)?;
    if api.leased(&fname, &name) {
        return Err(ApiError::Conflict(format!(
            "{fname}:{name} is being shifted by a deploy; delete it once the deploy ends"
        )));
    }
    // An alias already gone is deleted: AWS answers 204, and cleanups retry.
    if !api.load(&fname).await?.aliases.contains_key(&name) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    api.mutate(&fname, |rec| {
        rec.aliases.remove(&name);
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
    let (fname, _) = crate::names::here(api.engine.arn(), &fname, None)?;
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
