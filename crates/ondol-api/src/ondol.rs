//! ondol's own endpoints: logs, metrics, runtimes, code download, and the unknown-operation
//! answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use ondol_telemetry::LogQuery;
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::Api;

fn num<T: std::str::FromStr>(q: &HashMap<String, String>, key: &str) -> Result<Option<T>> {
    q.get(key)
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::InvalidParameter(format!("{key} must be a number")))
        })
        .transpose()
}

/// How long a request-id query waits for that request's END line by default, and
/// at most (`wait_ms`).
const REQUEST_WAIT: Duration = Duration::from_secs(3);
const MAX_REQUEST_WAIT_MS: u64 = 10_000;

/// `GET /ondol/v1/logs?function=&version=&request_id=&text=&since_ms=&until_ms=&after_seq=&limit=&wait_ms=`
///
/// With `request_id` (and no `after_seq`) the answer waits, up to `wait_ms`
/// (default 3 s), until that request's END or REPORT line is stored: the log
/// store commits in the background, so a query right after the response would
/// often find nothing. `complete` says whether it was found.
pub async fn logs(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let query = LogQuery {
        function: q.get("function").cloned(),
        version: q.get("version").cloned(),
        request_id: q.get("request_id").cloned(),
        text: q.get("text").cloned(),
        since_ms: num(&q, "since_ms")?,
        until_ms: num(&q, "until_ms")?,
        after_seq: num(&q, "after_seq")?,
        limit: num(&q, "limit")?,
    };
    let wait = num::<u64>(&q, "wait_ms")?
        .map(|ms| Duration::from_millis(ms.min(MAX_REQUEST_WAIT_MS)))
        .unwrap_or(REQUEST_WAIT);
    let wait_for = query
        .request_id
        .clone()
        .filter(|_| query.after_seq.is_none());
    let logs = api.logs.clone();
    let (entries, complete) = tokio::task::spawn_blocking(move || {
        let complete = wait_for
            .map(|rid| logs.wait_for_request(&rid, wait))
            .transpose()
            .map_err(|e| ApiError::Service(e.to_string()))?;
        let entries = logs
            .query(&query)
            .map_err(|e| ApiError::Service(e.to_string()))?;
        Ok::<_, ApiError>((entries, complete))
    })
    .await
    .map_err(|e| ApiError::Service(e.to_string()))??;
    let mut out = json!({ "entries": entries, "dropped": api.logs.dropped() });
    if let Some(c) = complete {
        out["complete"] = c.into();
    }
    Ok(Json(out).into_response())
}

/// `GET /ondol/v1/metrics`: engine counters, memory budget and pools.
pub async fn metrics(State(api): State<Arc<Api>>) -> Result<Response> {
    let store = api.store.clone();
    let fns = tokio::task::spawn_blocking(move || store.list_functions())
        .await
        .map_err(|e| ApiError::Service(e.to_string()))?
        .map_err(|e| ApiError::Service(e.to_string()))?;
    let pools: serde_json::Map<String, serde_json::Value> = fns
        .iter()
        .map(|f| {
            let name = &f.config.name;
            let versions: serde_json::Map<_, _> = api
                .engine
                .pool_stats(name)
                .into_iter()
                .map(|(v, s)| {
                    (
                        v,
                        json!({"idle": s.idle, "running": s.running, "ready": s.ready, "waiting": s.waiting, "invocations": s.invocations, "errors": s.errors, "durations": s.durations}),
                    )
                })
                .collect();
            (name.clone(), versions.into())
        })
        .collect();
    let (limit, used) = api.engine.memory_budget();
    Ok(Json(json!({
        "engine": api.engine.metrics().snapshot(),
        "cold_start_phases": api.engine.cold_start_phases().snapshot(),
        "memory_budget_mb": { "limit": limit, "used": used },
        "logs_dropped": api.logs.dropped(),
        "listeners": api.listeners.iter().map(|(n, s)| (n.to_string(), s.snapshot())).collect::<serde_json::Map<_, _>>(),
        "pools": pools,
    }))
    .into_response())
}

/// `GET /ondol/v1/code/{sha}`: the stored zip (GetFunction's `Code.Location`).
pub async fn code(State(api): State<Arc<Api>>, Path(sha): Path<String>) -> Result<Response> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound("No such code".into()));
    }
    let path = api.blobs.zip_path(&sha);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::NotFound("No such code".into()))?;
    Ok(([("content-type", "application/zip")], bytes).into_response())
}

pub async fn unknown() -> Response {
    let mut r = (
        StatusCode::NOT_FOUND,
        Json(json!({"Type": "User", "message": "Unknown operation"})),
    )
        .into_response();
    r.headers_mut().insert(
        "x-amzn-ErrorType",
        http::HeaderValue::from_static("UnknownOperationException"),
    );
    r
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionIn {
    version: String,
    #[serde(default)]
    count: u32,
}

/// `POST /ondol/v1/functions/{fn}/warm {"Version","Count"}`: starts that many
/// instances of a version and waits for their init. A failed init answers 409 with
/// the error and the version's init log.
pub async fn warm(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: bytes::Bytes,
) -> Result<Response> {
    let v: VersionIn = crate::functions::parse(&body)?;
    api.load(&name).await?;
    if api.engine.request_limit(&name, &v.version).is_none() {
        return Err(api.not_found(&name, Some(&v.version)));
    }
    match api.engine.warm(&name, &v.version, v.count.max(1)).await {
        Ok(()) => Ok(Json(json!({ "Ready": v.count.max(1) })).into_response()),
        Err(e) => {
            // Give the capture a moment to store the last lines of the failed init.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let logs = api.logs.clone();
            let q = LogQuery {
                function: Some(name.clone()),
                version: Some(v.version.clone()),
                limit: Some(40),
                ..Default::default()
            };
            let lines: Vec<String> = tokio::task::spawn_blocking(move || logs.query(&q))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.line)
                .collect();
            let body = json!({
                "Type": "User",
                "message": start_failure(&name, &v.version, &e),
                "init_log": lines,
            });
            let mut r = (StatusCode::CONFLICT, Json(body)).into_response();
            r.headers_mut().insert(
                "x-amzn-ErrorType",
                http::HeaderValue::from_static("ResourceConflictException"),
            );
            Ok(r)
        }
    }
}

/// `version V of F failed to start: <error type>: <its message>`.
pub(crate) fn start_failure(name: &str, version: &str, e: &ondol_core::FunctionError) -> String {
    let detail: serde_json::Value = serde_json::from_slice(&e.body).unwrap_or(json!({}));
    format!(
        "version {version} of {name} failed to start: {}: {}",
        e.error_type,
        detail["errorMessage"].as_str().unwrap_or("")
    )
}

/// `POST /ondol/v1/functions/{fn}/drain {"Version"}`: stops the version's idle
/// instances now; in-flight work finishes.
pub async fn drain(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    body: bytes::Bytes,
) -> Result<Response> {
    let v: VersionIn = crate::functions::parse(&body)?;
    api.engine.drain_version(&name, &v.version);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /ondol/v1/runtimes`: every Lambda runtime id and what runs it on this node.
pub async fn runtimes(State(api): State<Arc<Api>>) -> Result<Response> {
    let offered = api.engine.runtimes().await;
    Ok(Json(json!({ "Runtimes": offered })).into_response())
}
