//! Versions: PublishVersion (an immutable snapshot of `$LATEST`'s code and
//! configuration), ListVersionsByFunction, and deleting one version.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use ondol_store::{BlobInfo, FunctionRecord, VersionRecord};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::functions::{check_revision, max_items, now_rfc, ok_json, parse, revision, Q};

use crate::shapes::{configuration, View};
use crate::Api;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishIn {
    code_sha256: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
}

/// Publishes `$LATEST`; an unchanged function returns its latest version instead.
pub fn publish(rec: &mut FunctionRecord, description: Option<String>) -> Result<String> {
    if let Some(last) = rec.versions.last() {
        // Unchanged since that publish: the revision tells, as a version's own
        // description (given to PublishVersion) would hide a description change.
        let unchanged = match &last.source_revision {
            Some(r) => *r == rec.revision_id,
            None => {
                let mut same = last.config.clone();
                same.description.clone_from(&rec.config.description);
                last.code_sha256 == rec.code_sha256 && same == rec.config
            }
        };
        if unchanged {
            return Ok(last.version.to_string());
        }
    }
    let n = rec.next_version;
    let mut config = rec.config.clone();
    if let Some(d) = description {
        config.description = d;
    }
    rec.versions.push(VersionRecord {
        version: n,
        config,
        code_sha256: rec.code_sha256.clone(),
        code_size: rec.code_size,
        revision_id: revision(),
        last_modified: now_rfc(),
        source_revision: Some(rec.revision_id.clone()),
    });
    rec.next_version = n + 1;
    Ok(n.to_string())
}

/// Removes one published version; refused while an alias points at it.
pub fn delete_version(rec: &mut FunctionRecord, version: &str) -> Result<()> {
    let users: Vec<String> = rec
        .aliases
        .values()
        .filter(|a| a.function_version == version || a.weights.contains_key(version))
        .map(|a| a.name.clone())
        .collect();
    if rec.version(version).is_none() {
        return Err(ApiError::NotFound(format!(
            "Function not found: {}:{version}",
            rec.config.name
        )));
    }
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "Unable to delete version because the following aliases reference it: {users:?}"
        )));
    }
    rec.versions.retain(|v| v.version.to_string() != version);
    rec.provisioned.remove(version);
    Ok(())
}

pub async fn publish_version(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let input: PublishIn = if body.is_empty() {
        PublishIn::default()
    } else {
        parse(&body)?
    };
    let (name, _) = crate::names::here(api.engine.arn(), &name, None)?;
    let (rec, v) = api
        .mutate(&name, |rec| {
            check_revision(&rec.revision_id, input.revision_id.as_deref())?;
            if let Some(sha) = &input.code_sha256 {
                if *sha != BlobInfo::b64_of_hex(&rec.code_sha256) {
                    return Err(ApiError::InvalidParameter(format!(
                        "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
                        BlobInfo::b64_of_hex(&rec.code_sha256)
                    )));
                }
            }
            publish(rec, input.description)
        })
        .await?;
    let view = View::of(&rec, &v).expect("published");
    Ok(ok_json(
        StatusCode::CREATED,
        configuration(api.engine.arn(), &view, Some(&v)),
    ))
}

pub async fn list_versions(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, _) = crate::names::here(api.engine.arn(), &name, None)?;
    let max = max_items(&q)?;
    let rec = api.load(&name).await?;
    let all: Vec<String> = std::iter::once("$LATEST".to_string())
        .chain(rec.versions.iter().map(|v| v.version.to_string()))
        .collect();
    let start = match q.get("Marker") {
        Some(m) => all.iter().position(|v| v == m).unwrap_or(all.len()),
        None => 0,
    };
    let page: Vec<_> = all[start..]
        .iter()
        .take(max)
        .filter_map(|v| {
            View::of(&rec, v).map(|view| configuration(api.engine.arn(), &view, Some(v)))
        })
        .collect();
    let mut out = json!({ "Versions": page });
    if let Some(next) = all.get(start + max) {
        out["NextMarker"] = next.clone().into();
    }
    Ok(ok_json(StatusCode::OK, out))
}
