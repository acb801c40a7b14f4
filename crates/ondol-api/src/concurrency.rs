//! Reserved concurrency (every version's pool maximum; 0 disables the function) and
//! provisioned concurrency (instances of a version or alias kept started).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_store::{FunctionRecord, ProvisionedRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::catalog::version_of;
use crate::error::{ApiError, Result};
use crate::functions::{max_items, now_rfc, ok_json, parse, Q};
use crate::names::resolve;
use crate::Api;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReservedIn {
    reserved_concurrent_executions: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProvisionedIn {
    provisioned_concurrent_executions: u32,
}

fn unqualified(path: &str) -> Result<String> {
    let (name, q) = resolve(path, None)?;
    match q {
        None => Ok(name),
        Some(q) => Err(ApiError::InvalidParameter(format!(
            "Concurrency is set on the unqualified function; remove ':{q}'"
        ))),
    }
}

pub async fn put_reserved(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let input: ReservedIn = parse(&body)?;
    let name = unqualified(&name)?;
    let n = input.reserved_concurrent_executions;
    api.mutate(&name, |rec| {
        rec.reserved_concurrency = Some(n);
        Ok(())
    })
    .await?;
    Ok(ok_json(
        StatusCode::OK,
        json!({ "ReservedConcurrentExecutions": n }),
    ))
}

pub async fn get_reserved(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
) -> Result<Response> {
    let name = unqualified(&name)?;
    let rec = api.load(&name).await?;
    let body = match rec.reserved_concurrency {
        Some(n) => json!({ "ReservedConcurrentExecutions": n }),
        None => json!({}),
    };
    Ok(ok_json(StatusCode::OK, body))
}

pub async fn delete_reserved(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
) -> Result<Response> {
    let name = unqualified(&name)?;
    api.mutate(&name, |rec| {
        rec.reserved_concurrency = None;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The qualifier of a provisioned-concurrency request: a version or an alias.
fn qualifier(
    path: &str,
    q: &std::collections::HashMap<String, String>,
) -> Result<(String, String)> {
    let (name, qual) = resolve(path, q.get("Qualifier").map(String::as_str))?;
    match qual {
        Some(q) if q != "$LATEST" => Ok((name, q)),
        _ => Err(ApiError::InvalidParameter(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions: give a version or alias as Qualifier".into(),
        )),
    }
}

/// The config shape, with `Allocated`/`Available` counted from the live pool.
fn provisioned_shape(api: &Api, rec: &FunctionRecord, qual: &str, p: &ProvisionedRecord) -> Value {
    let name = &rec.config.name;
    let version = version_of(rec, qual).unwrap_or_default();
    let ready = api
        .engine
        .pool_stats(name)
        .into_iter()
        .find(|(v, _)| *v == version)
        .map(|(_, s)| s.ready)
        .unwrap_or(0);
    let allocated = ready.min(p.requested);
    let status = if allocated >= p.requested {
        "READY"
    } else {
        "IN_PROGRESS"
    };
    json!({
        "FunctionArn": api.engine.arn().qualified(name, Some(qual)),
        "RequestedProvisionedConcurrentExecutions": p.requested,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "Status": status,
        "LastModified": p.last_modified,
    })
}

pub async fn put_provisioned(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response> {
    let input: ProvisionedIn = parse(&body)?;
    let (name, qual) = qualifier(&name, &q)?;
    let n = input.provisioned_concurrent_executions;
    if n == 0 {
        return Err(ApiError::InvalidParameter(
            "ProvisionedConcurrentExecutions must be at least 1".into(),
        ));
    }
    let (rec, p) = api
        .mutate(&name, |rec| {
            if version_of(rec, &qual).is_none() {
                return Err(ApiError::NotFound(format!("Function not found: {name}:{qual}")));
            }
            let max = rec.reserved_concurrency.unwrap_or(rec.config.limits.max_concurrency);
            if n > max {
                return Err(ApiError::InvalidParameter(format!(
                    "ProvisionedConcurrentExecutions {n} exceeds the function's concurrency limit {max}"
                )));
            }
            let p = ProvisionedRecord { requested: n, last_modified: now_rfc() };
            rec.provisioned.insert(qual.clone(), p.clone());
            Ok(p)
        })
        .await?;
    let mut shape = provisioned_shape(&api, &rec, &qual, &p);
    if let Some(o) = shape.as_object_mut() {
        o.remove("FunctionArn");
    }
    Ok(ok_json(StatusCode::ACCEPTED, shape))
}

pub async fn get_or_list_provisioned(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    if q.contains_key("List") {
        return list_provisioned(&api, &name, &q).await;
    }
    let (name, qual) = qualifier(&name, &q)?;
    let rec = api.load(&name).await?;
    let p = rec.provisioned.get(&qual).ok_or_else(|| {
        ApiError::ProvisionedNotFound(format!(
            "No Provisioned Concurrency Config found for this function: {name}:{qual}"
        ))
    })?;
    let mut shape = provisioned_shape(&api, &rec, &qual, p);
    if let Some(o) = shape.as_object_mut() {
        o.remove("FunctionArn");
    }
    Ok(ok_json(StatusCode::OK, shape))
}

async fn list_provisioned(
    api: &Arc<Api>,
    name: &str,
    q: &std::collections::HashMap<String, String>,
) -> Result<Response> {
    let (name, _) = resolve(name, None)?;
    let max = max_items(q)?;
    let rec = api.load(&name).await?;
    let all: Vec<_> = rec.provisioned.iter().collect();
    let start = match q.get("Marker") {
        Some(m) => all.partition_point(|(k, _)| k.as_str() < m.as_str()),
        None => 0,
    };
    let page: Vec<_> = all[start..]
        .iter()
        .take(max)
        .map(|(k, p)| provisioned_shape(api, &rec, k, p))
        .collect();
    let mut out = json!({ "ProvisionedConcurrencyConfigs": page });
    if let Some((next, _)) = all.get(start + max) {
        out["NextMarker"] = (*next).clone().into();
    }
    Ok(ok_json(StatusCode::OK, out))
}

pub async fn delete_provisioned(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = qualifier(&name, &q)?;
    api.mutate(&name, |rec| {
        rec.provisioned.remove(&qual).ok_or_else(|| {
            ApiError::ProvisionedNotFound(format!(
                "No Provisioned Concurrency Config found for this function: {name}:{qual}"
            ))
        })?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
