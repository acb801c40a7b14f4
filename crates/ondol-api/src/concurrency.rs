//! Reserved concurrency (the function's concurrency, shared by its versions; 0 is
//! Lambda's kill switch) and provisioned concurrency (instances of a version or
//! alias kept started), checked against the node's limits as Lambda's account.

mod rules;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_store::{FunctionRecord, ProvisionedRecord};
use serde::Deserialize;
use serde_json::{json, Value};

pub use rules::NodeLimits;
use rules::Taken;

use crate::catalog::version_of;
use crate::error::{ApiError, Result};
use crate::functions::{max_items, now_rfc, ok_json, parse, Q};
use crate::names::resolve;
use crate::Api;

/// Reservations are checked against every function's, one change at a time.
static RESERVATIONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every stored function.
async fn all_functions(api: &Api) -> Result<Vec<FunctionRecord>> {
    let store = api.store.clone();
    Api::blocking(move || Ok(store.list_functions()?)).await
}

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
        Some(_) => Err(ApiError::InvalidParameter(
            "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.".into(),
        )),
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
    let _one = RESERVATIONS.lock().await;
    let others = Taken::of(&all_functions(&api).await?, &name);
    api.mutate(&name, |rec| {
        rules::check_reserved(api.concurrency, others, rec, n)?;
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

/// Which provisioned-concurrency operation a qualifier is checked for.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Put,
    GetOrDelete,
}

/// The qualifier of a provisioned-concurrency request: a version or an alias.
fn qualifier(path: &str, q: &HashMap<String, String>, op: Op) -> Result<(String, String)> {
    let (name, qual) = resolve(path, q.get("Qualifier").map(String::as_str))?;
    match qual {
        Some(q) if q != "$LATEST" => Ok((name, q)),
        Some(_) if op == Op::Put => Err(ApiError::InvalidParameter(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
                .into(),
        )),
        Some(_) => Err(ApiError::InvalidParameter(
            "The function resource provided must be an alias or a published version.".into(),
        )),
        None => Err(ApiError::InvalidParameter(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions: give a version or alias as Qualifier".into(),
        )),
    }
}

/// AWS's not-found for `name:qual`: a missing alias, or a missing function or version.
fn missing(api: &Api, name: &str, qual: &str) -> ApiError {
    let arn = api.engine.arn().qualified(name, Some(qual));
    if qual.bytes().all(|b| b.is_ascii_digit()) {
        ApiError::NotFound(format!("Function not found: {arn}"))
    } else {
        ApiError::NotFound(format!("Cannot find alias arn: {arn}"))
    }
}

/// The record of `name` with `qual` naming one of its versions or aliases.
async fn target(api: &Api, name: &str, qual: &str) -> Result<FunctionRecord> {
    let (store, n) = (api.store.clone(), name.to_string());
    match Api::blocking(move || Ok(store.get_function(&n)?)).await? {
        Some(rec) if version_of(&rec, qual).is_some() => Ok(rec),
        _ => Err(missing(api, name, qual)),
    }
}

fn no_config() -> ApiError {
    ApiError::ProvisionedNotFound(
        "No Provisioned Concurrency Config found for this function".into(),
    )
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
    let n = input.provisioned_concurrent_executions;
    if n == 0 {
        return Err(ApiError::Validation(
            "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1".into(),
        ));
    }
    let (name, qual) = qualifier(&name, &q, Op::Put)?;
    let _one = RESERVATIONS.lock().await;
    target(&api, &name, &qual).await?;
    let others = Taken::of(&all_functions(&api).await?, &name);
    let (rec, p) = api
        .mutate(&name, |rec| {
            if version_of(rec, &qual).is_none() {
                return Err(missing(&api, &name, &qual));
            }
            rules::check_provisioned(api.concurrency, others, rec, &qual, n)?;
            let max = rec
                .reserved_concurrency
                .unwrap_or(rec.config.limits.max_concurrency);
            if n > max {
                return Err(ApiError::InvalidParameter(format!(
                    "ProvisionedConcurrentExecutions {n} exceeds the function's concurrency limit {max}"
                )));
            }
            let p = ProvisionedRecord {
                requested: n,
                last_modified: now_rfc(),
            };
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
    let (name, qual) = qualifier(&name, &q, Op::GetOrDelete)?;
    let rec = target(&api, &name, &qual).await?;
    let p = rec.provisioned.get(&qual).ok_or_else(no_config)?;
    let mut shape = provisioned_shape(&api, &rec, &qual, p);
    if let Some(o) = shape.as_object_mut() {
        o.remove("FunctionArn");
    }
    Ok(ok_json(StatusCode::OK, shape))
}

async fn list_provisioned(
    api: &Arc<Api>,
    name: &str,
    q: &HashMap<String, String>,
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

/// Deleting a config that does not exist succeeds, as on AWS (recorded:
/// `delete_provisioned_config_doesnotexist`); a missing alias or version does not.
pub async fn delete_provisioned(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = qualifier(&name, &q, Op::GetOrDelete)?;
    let _one = RESERVATIONS.lock().await;
    target(&api, &name, &qual).await?;
    api.mutate(&name, |rec| {
        rec.provisioned.remove(&qual);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
