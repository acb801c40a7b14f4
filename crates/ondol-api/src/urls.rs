//! Function URL configurations (Create/Get/Update/Delete/ListFunctionUrlConfigs).
//! The URL is `http://<url-id>.lambda-url.localhost:<http-port>/` on the HTTP front
//! door (`*.localhost` resolves to loopback).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_store::{FunctionRecord, UrlRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::catalog::version_of;
use crate::error::{ApiError, Result};
use crate::functions::{now_rfc, ok_json, parse, Q};
use crate::names::keyed;
use crate::Api;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UrlIn {
    auth_type: Option<String>,
    cors: Option<Value>,
    invoke_mode: Option<String>,
}

fn shape(api: &Api, rec: &FunctionRecord, qual: &str, u: &UrlRecord) -> Value {
    let q = (!qual.is_empty()).then_some(qual);
    let mut v = json!({
        "FunctionUrl": format!("http://{}.lambda-url.localhost:{}/", u.url_id, api.http_port),
        "FunctionArn": api.engine.arn().qualified(&rec.config.name, q),
        "AuthType": u.auth_type,
        "CreationTime": u.creation_time,
        "LastModifiedTime": u.last_modified,
        "InvokeMode": u.invoke_mode,
    });
    if let Some(c) = &u.cors {
        v["Cors"] = c.clone();
    }
    v
}

fn check(input: &UrlIn) -> Result<()> {
    if let Some(a) = &input.auth_type {
        if a != "NONE" && a != "AWS_IAM" {
            return Err(ApiError::InvalidParameter(format!(
                "AuthType '{a}' must be NONE or AWS_IAM"
            )));
        }
    }
    if let Some(m) = &input.invoke_mode {
        if m != "BUFFERED" && m != "RESPONSE_STREAM" {
            return Err(ApiError::InvalidParameter(format!(
                "InvokeMode '{m}' must be BUFFERED or RESPONSE_STREAM"
            )));
        }
    }
    Ok(())
}

fn missing(name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "The resource you requested does not exist: function URL config of {name}"
    ))
}

pub async fn create(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response> {
    let input: UrlIn = parse(&body)?;
    check(&input)?;
    let (name, qual) = keyed(api.engine.arn(), &p, &q)?;
    let (rec, u) = api
        .mutate(&name, |rec| {
            if !qual.is_empty() && (qual == "$LATEST" || version_of(rec, &qual).is_none() || rec.version(&qual).is_some()) {
                return Err(ApiError::InvalidParameter(format!(
                    "A function URL qualifier must be an alias; '{qual}' is not one"
                )));
            }
            if rec.urls.contains_key(&qual) {
                return Err(ApiError::Conflict(format!("Failed to create function url config for [functionArn = {name}]. Error message: FunctionUrlConfig exists for this Lambda function")));
            }
            let now = now_rfc();
            let u = UrlRecord {
                url_id: uuid::Uuid::new_v4().simple().to_string(),
                auth_type: input.auth_type.unwrap_or_else(|| "NONE".into()),
                invoke_mode: input.invoke_mode.unwrap_or_else(|| "BUFFERED".into()),
                cors: input.cors,
                creation_time: now.clone(),
                last_modified: now,
            };
            rec.urls.insert(qual.clone(), u.clone());
            Ok(u)
        })
        .await?;
    api.publish_front().await?;
    let mut v = shape(&api, &rec, &qual, &u);
    if let Some(o) = v.as_object_mut() {
        o.remove("LastModifiedTime");
    }
    Ok(ok_json(StatusCode::CREATED, v))
}

pub async fn get(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = keyed(api.engine.arn(), &p, &q)?;
    let rec = api.load(&name).await?;
    let u = rec.urls.get(&qual).ok_or_else(|| missing(&name))?;
    Ok(ok_json(StatusCode::OK, shape(&api, &rec, &qual, u)))
}

pub async fn update(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response> {
    let input: UrlIn = parse(&body)?;
    check(&input)?;
    let (name, qual) = keyed(api.engine.arn(), &p, &q)?;
    let (rec, u) = api
        .mutate(&name, |rec| {
            let u = rec.urls.get_mut(&qual).ok_or_else(|| missing(&name))?;
            if let Some(a) = input.auth_type {
                u.auth_type = a;
            }
            if let Some(m) = input.invoke_mode {
                u.invoke_mode = m;
            }
            if input.cors.is_some() {
                u.cors = input.cors;
            }
            u.last_modified = now_rfc();
            Ok(u.clone())
        })
        .await?;
    api.publish_front().await?;
    Ok(ok_json(StatusCode::OK, shape(&api, &rec, &qual, &u)))
}

pub async fn delete(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = keyed(api.engine.arn(), &p, &q)?;
    api.mutate(&name, |rec| {
        rec.urls.remove(&qual).ok_or_else(|| missing(&name))?;
        Ok(())
    })
    .await?;
    api.publish_front().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list(State(api): State<Arc<Api>>, Path(p): Path<String>) -> Result<Response> {
    let (name, _) = crate::names::here(api.engine.arn(), &p, None)?;
    let rec = api.load(&name).await?;
    let all: Vec<Value> = rec
        .urls
        .iter()
        .map(|(q, u)| shape(&api, &rec, q, u))
        .collect();
    Ok(ok_json(
        StatusCode::OK,
        json!({ "FunctionUrlConfigs": all }),
    ))
}
