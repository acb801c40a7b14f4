//! Function URL configurations (Create/Get/Update/Delete/ListFunctionUrlConfigs).
//! The URL is `http://<url-id>.lambda-url.localhost:<http-port>/` on the HTTP front
//! door (`*.localhost` resolves to loopback).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_store::{FunctionRecord, UrlRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, Result};
use crate::functions::{now_rfc, ok_json, parse, Q};
use crate::names::{here, invalid, keyed};
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

/// The Qualifier pattern of the URL operations: an alias name, never a version
/// number or `$LATEST`, as AWS quotes it.
const URL_QUALIFIER: &str = "((?!^\\d+$)^[0-9a-zA-Z-_]+$)";

fn url_qualifier(q: &str) -> Result<()> {
    if q.len() > 128 {
        return Err(invalid(
            q,
            "qualifier",
            "Member must have length less than or equal to 128",
        ));
    }
    let word = q
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if q.is_empty() || !word || q.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            q,
            "qualifier",
            &format!("Member must satisfy regular expression pattern: {URL_QUALIFIER}"),
        ));
    }
    Ok(())
}

/// The function and alias (`""` for none) a URL request names. AWS judges the
/// qualifier before it looks the function up, so a version on a missing function is
/// still a ValidationException.
fn target(api: &Api, path: &str, q: &HashMap<String, String>) -> Result<(String, String)> {
    if let Some(qual) = q.get("Qualifier") {
        url_qualifier(qual)?;
    }
    let (name, qual) = keyed(api.engine.arn(), path, q)?;
    if !qual.is_empty() {
        url_qualifier(&qual)?;
    }
    Ok((name, qual))
}

/// What Get and Delete answer for a missing function, alias or config (and Update
/// for a missing config): AWS names none of them.
fn missing() -> ApiError {
    ApiError::NotFound("The resource you requested does not exist.".into())
}

/// What Create, Update and List answer for a missing function or alias.
fn gone() -> ApiError {
    ApiError::NotFound("Function does not exist".into())
}

/// [`Api::mutate`] with a missing function reported as `absent`; errors of `f` pass
/// through unchanged (it fails before changing the record, so nothing is written).
async fn change<T: Send + 'static>(
    api: &Api,
    name: &str,
    absent: fn() -> ApiError,
    f: impl FnOnce(&mut FunctionRecord) -> Result<T>,
) -> Result<(FunctionRecord, T)> {
    let (rec, out) = api
        .mutate(name, |rec| Ok(f(rec)))
        .await
        .map_err(reword(absent))?;
    Ok((rec, out?))
}

/// A function-not-found error reworded as the URL operation words it.
fn reword(absent: fn() -> ApiError) -> impl Fn(ApiError) -> ApiError {
    move |e| match e {
        ApiError::NotFound(_) => absent(),
        e => e,
    }
}

pub async fn create(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response> {
    let input: UrlIn = parse(&body)?;
    check(&input)?;
    let (name, qual) = target(&api, &p, &q)?;
    let arn = api
        .engine
        .arn()
        .qualified(&name, (!qual.is_empty()).then_some(qual.as_str()));
    let (rec, u) = change(&api, &name, gone, |rec| {
        if !qual.is_empty() && !rec.aliases.contains_key(&qual) {
            return Err(gone());
        }
        if rec.urls.contains_key(&qual) {
            // Two spaces after "message:", as AWS sends it.
            return Err(ApiError::Conflict(format!(
                "Failed to create function url config for [functionArn = {arn}]. \
                 Error message:  FunctionUrlConfig exists for this Lambda function"
            )));
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
    let (name, qual) = target(&api, &p, &q)?;
    let rec = api.load(&name).await.map_err(reword(missing))?;
    let u = rec.urls.get(&qual).ok_or_else(missing)?;
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
    let (name, qual) = target(&api, &p, &q)?;
    let (rec, u) = change(&api, &name, gone, |rec| {
        if !qual.is_empty() && !rec.aliases.contains_key(&qual) {
            return Err(gone());
        }
        let u = rec.urls.get_mut(&qual).ok_or_else(missing)?;
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
    let (name, qual) = target(&api, &p, &q)?;
    change(&api, &name, missing, |rec| {
        rec.urls.remove(&qual).ok_or_else(missing)?;
        Ok(())
    })
    .await?;
    api.publish_front().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `MaxItems` of ListFunctionUrlConfigs (1–50, default 50), refused as AWS's
/// front end refuses a member outside its modeled range.
fn page_size(q: &HashMap<String, String>) -> Result<usize> {
    let Some(m) = q.get("MaxItems") else {
        return Ok(50);
    };
    let n: i64 = m
        .parse()
        .map_err(|_| ApiError::InvalidParameter(format!("MaxItems '{m}' is not a number")))?;
    let bound = |c: &str| invalid(m, "maxItems", &format!("Member must have value {c}"));
    match usize::try_from(n) {
        Ok(n) if n > 50 => Err(bound("less than or equal to 50")),
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bound("greater than or equal to 1")),
    }
}

pub async fn list(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, _) = here(api.engine.arn(), &p, None)?;
    let max = page_size(&q)?;
    let rec = api.load(&name).await.map_err(reword(gone))?;
    // The unqualified config first, then aliases by name; the marker is the ARN of
    // the last config shown.
    let all: Vec<(String, Value)> = rec
        .urls
        .iter()
        .map(|(k, u)| {
            let arn = api
                .engine
                .arn()
                .qualified(&name, (!k.is_empty()).then_some(k.as_str()));
            (arn, shape(&api, &rec, k, u))
        })
        .collect();
    let (page, next) = crate::functions::page_after(all, q.get("Marker"), max);
    let mut out = json!({ "FunctionUrlConfigs": page });
    if let Some(m) = next {
        out["NextMarker"] = m.into();
    }
    Ok(ok_json(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifier_is_an_alias_name() {
        for ok in ["live", "v1", "1a", "a-b_c"] {
            assert!(url_qualifier(ok).is_ok(), "{ok}");
        }
        for bad in ["1", "42", "$LATEST", "", "a!", &"a".repeat(129)] {
            assert!(
                matches!(url_qualifier(bad), Err(ApiError::Validation(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn page_size_is_one_to_fifty() {
        let q = |m: &str| HashMap::from([("MaxItems".to_string(), m.to_string())]);
        assert_eq!(page_size(&HashMap::new()).unwrap(), 50);
        assert_eq!(page_size(&q("1")).unwrap(), 1);
        assert_eq!(page_size(&q("50")).unwrap(), 50);
        for bad in ["0", "-1", "51"] {
            assert!(matches!(page_size(&q(bad)), Err(ApiError::Validation(_))));
        }
        assert!(matches!(
            page_size(&q("x")),
            Err(ApiError::InvalidParameter(_))
        ));
    }
}
