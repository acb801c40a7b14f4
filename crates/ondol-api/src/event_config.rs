//! Put/Get/Update/Delete/ListFunctionEventInvokeConfig
//! (`/2019-09-25/functions/{fn}/event-invoke-config`): retries, event age and
//! destinations of async invocations, and ondol's dead-letter store (`/ondol/v1/dlq`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use ondol_store::{EventConfig, FunctionRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::catalog::version_of;
use crate::error::{ApiError, Result};
use crate::functions::{now_rfc, ok_json, parse, Q};
use crate::names::keyed;
use crate::Api;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestIn {
    destination: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationsIn {
    on_success: Option<DestIn>,
    on_failure: Option<DestIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigIn {
    maximum_retry_attempts: Option<u32>,
    maximum_event_age_in_seconds: Option<u64>,
    destination_config: Option<DestinationsIn>,
}

fn shape(api: &Api, rec: &FunctionRecord, qual: &str, c: &EventConfig) -> Value {
    let q = Some(if qual.is_empty() { "$LATEST" } else { qual });
    let dest = |d: &Option<String>| match d {
        Some(arn) => json!({ "Destination": arn }),
        None => json!({}),
    };
    let modified = chrono::DateTime::parse_from_str(&c.last_modified, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
        .unwrap_or(0.0);
    let mut v = json!({
        "LastModified": modified,
        "FunctionArn": api.engine.arn().qualified(&rec.config.name, q),
        "DestinationConfig": { "OnSuccess": dest(&c.on_success), "OnFailure": dest(&c.on_failure) },
    });
    if c.retries_given {
        v["MaximumRetryAttempts"] = json!(c.maximum_retry_attempts);
    }
    if c.age_given {
        v["MaximumEventAgeInSeconds"] = json!(c.maximum_event_age_s);
    }
    v
}

/// AWS's answer when the function (or the qualifier) named is not there.
fn gone() -> ApiError {
    ApiError::NotFound("The function doesn't exist.".into())
}

fn no_config(api: &Api, name: &str, qual: &str) -> ApiError {
    let q = if qual.is_empty() { "$LATEST" } else { qual };
    ApiError::NotFound(format!(
        "The function {} doesn't have an EventInvokeConfig",
        api.engine.arn().qualified(name, Some(q))
    ))
}

/// Destinations must be other functions that exist, as AWS checks when the config is put.
async fn check_destinations(api: &Api, name: &str, input: &ConfigIn) -> Result<()> {
    let Some(d) = &input.destination_config else {
        return Ok(());
    };
    for arn in [&d.on_success, &d.on_failure]
        .into_iter()
        .flatten()
        .filter_map(|d| d.destination.as_deref())
    {
        let Some((target, _)) = ondol_events::destination_function(arn) else {
            continue; // refused with the other shape rules in `apply`
        };
        if target == name {
            return Err(ApiError::InvalidParameter(
                "You can't specify the function as a destination for itself.".into(),
            ));
        }
        if let Err(ApiError::NotFound(_)) = api.load(&target).await {
            return Err(invalid_destination(arn));
        }
    }
    Ok(())
}

fn invalid_destination(arn: &str) -> ApiError {
    ApiError::InvalidParameter(format!("The destination ARN {arn} is invalid."))
}

/// Lambda's pattern for a destination (an SQS/SNS/Lambda/EventBridge/S3 ARN or Kafka).
const DESTINATION_PATTERN: &str = "$|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)";

/// Whether `arn` has the shape of [`DESTINATION_PATTERN`].
fn destination_shaped(arn: &str) -> bool {
    if let Some(topic) = arn.strip_prefix("kafka://") {
        let ok = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b);
        return !topic.is_empty()
            && topic.len() <= 249
            && !topic.starts_with('.')
            && topic.bytes().skip(1).all(ok);
    }
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    let alnum_dash = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    p.len() == 6
        && p[0] == "arn"
        && p[1].strip_prefix("aws").is_some_and(alnum_dash)
        && !p[2].is_empty()
        && alnum_dash(p[2])
        && (p[3].is_empty() || crate::names::is_region(p[3]))
        && (p[4].is_empty() || (p[4].len() == 12 && p[4].bytes().all(|b| b.is_ascii_digit())))
}

/// `DestinationConfig(onSuccess=OnSuccess(destination=…), onFailure=null)`, as AWS
/// names a configuration it refuses.
fn described(d: &DestinationsIn) -> String {
    let one =
        |kind: &str, x: &Option<DestIn>| match x.as_ref().and_then(|x| x.destination.as_deref()) {
            Some(arn) => format!("{kind}(destination={arn})"),
            None => "null".to_string(),
        };
    format!(
        "DestinationConfig(onSuccess={}, onFailure={})",
        one("OnSuccess", &d.on_success),
        one("OnFailure", &d.on_failure)
    )
}

/// Applies the members given; checks ranges and that destinations are functions.
fn apply(c: &mut EventConfig, input: ConfigIn) -> Result<()> {
    if let Some(n) = input.maximum_retry_attempts {
        if n > 2 {
            return Err(ApiError::InvalidParameter(format!(
                "MaximumRetryAttempts {n} must be between 0 and 2"
            )));
        }
        c.maximum_retry_attempts = n;
        c.retries_given = true;
    }
    if let Some(s) = input.maximum_event_age_in_seconds {
        if !(60..=21_600).contains(&s) {
            return Err(ApiError::InvalidParameter(format!(
                "MaximumEventAgeInSeconds {s} must be between 60 and 21600"
            )));
        }
        c.maximum_event_age_s = s;
        c.age_given = true;
    }
    if let Some(d) = input.destination_config {
        let whole = described(&d);
        // Only functions are delivered to here (failures with no destination go to
        // the dead-letter store); AWS's message for another service's ARN.
        let check = |d: Option<DestIn>, member: &str| -> Result<Option<String>> {
            match d.and_then(|d| d.destination).filter(|a| !a.is_empty()) {
                None => Ok(None),
                Some(arn) if !destination_shaped(&arn) => Err(crate::names::invalid(
                    &arn,
                    member,
                    &format!(
                        "Member must satisfy regular expression pattern: {DESTINATION_PATTERN}"
                    ),
                )),
                Some(arn) if ondol_events::destination_function(&arn).is_some() => Ok(Some(arn)),
                Some(_) => Err(ApiError::InvalidParameter(format!(
                    "The provided destination config {whole} is invalid."
                ))),
            }
        };
        if d.on_success.is_some() {
            c.on_success = check(d.on_success, "destinationConfig.onSuccess.destination")?;
        }
        if d.on_failure.is_some() {
            c.on_failure = check(d.on_failure, "destinationConfig.onFailure.destination")?;
        }
    }
    c.last_modified = now_rfc();
    Ok(())
}

async fn write(
    api: &Arc<Api>,
    p: &str,
    q: &std::collections::HashMap<String, String>,
    body: &Bytes,
    replace: bool,
) -> Result<Response> {
    let input: ConfigIn = parse(body)?;
    let (name, qual) = keyed(api.engine.arn(), p, q)?;
    if replace
        && input.maximum_retry_attempts.is_none()
        && input.maximum_event_age_in_seconds.is_none()
        && input.destination_config.is_none()
    {
        return Err(ApiError::InvalidParameter(
            "You must specify at least one of error handling or destination setting.".into(),
        ));
    }
    if let Err(ApiError::NotFound(_)) = api.load(&name).await {
        return Err(gone());
    }
    check_destinations(api, &name, &input).await?;
    let (rec, c) = api
        .mutate(&name, |rec| {
            if !qual.is_empty() && version_of(rec, &qual).is_none() {
                return Err(gone());
            }
            let mut c = match (replace, rec.event_configs.get(&qual)) {
                (false, Some(existing)) => existing.clone(),
                (false, None) => return Err(no_config(api, &name, &qual)),
                (true, _) => EventConfig::default(),
            };
            apply(&mut c, input)?;
            rec.event_configs.insert(qual.clone(), c.clone());
            Ok(c)
        })
        .await?;
    Ok(ok_json(StatusCode::OK, shape(api, &rec, &qual, &c)))
}

pub async fn put(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response> {
    write(&api, &p, &q, &body, true).await
}

pub async fn update(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response> {
    write(&api, &p, &q, &body, false).await
}

pub async fn get(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = keyed(api.engine.arn(), &p, &q)?;
    let rec = api
        .load(&name)
        .await
        .map_err(|_| no_config(&api, &name, &qual))?;
    let c = rec
        .event_configs
        .get(&qual)
        .ok_or_else(|| no_config(&api, &name, &qual))?;
    Ok(ok_json(StatusCode::OK, shape(&api, &rec, &qual, c)))
}

pub async fn delete(
    State(api): State<Arc<Api>>,
    Path(p): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let (name, qual) = keyed(api.engine.arn(), &p, &q)?;
    let missing = || no_config(&api, &name, &qual);
    if let Err(ApiError::NotFound(_)) = api.load(&name).await {
        return Err(missing());
    }
    api.mutate(&name, |rec| {
        rec.event_configs.remove(&qual).ok_or_else(missing)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list(State(api): State<Arc<Api>>, Path(p): Path<String>) -> Result<Response> {
    let (name, _) = crate::names::here(api.engine.arn(), &p, None)?;
    let rec = api.load(&name).await.map_err(|_| gone())?;
    let all: Vec<Value> = rec
        .event_configs
        .iter()
        .map(|(q, c)| shape(&api, &rec, q, c))
        .collect();
    Ok(ok_json(
        StatusCode::OK,
        json!({ "FunctionEventInvokeConfigs": all }),
    ))
}

// ---- ondol's dead-letter store ----

fn letter_json(d: &ondol_store::DeadLetter) -> Value {
    json!({
        "id": d.id,
        "function": d.function,
        "qualifier": d.qualifier,
        "request_id": d.request_id,
        "attempts": d.attempts,
        "enqueued_ms": d.enqueued_ms,
        "failed_ms": d.failed_ms,
        "payload": String::from_utf8_lossy(&d.payload),
        "record": d.record,
    })
}

fn id_of(q: &std::collections::HashMap<String, String>) -> Result<Option<i64>> {
    q.get("id")
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::InvalidParameter("id must be a number".into()))
        })
        .transpose()
}

/// `GET /ondol/v1/dlq/{fn}[?id=N]`
pub async fn dlq_list(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let id = id_of(&q)?;
    let queue = api.queue.clone();
    let out = Api::blocking(move || match id {
        Some(id) => Ok(queue
            .dead_letter_by_id(&name, id)?
            .into_iter()
            .collect::<Vec<_>>()),
        None => Ok(queue.dead_letters(&name)?),
    })
    .await?;
    if id.is_some() && out.is_empty() {
        return Err(ApiError::NotFound("No such dead letter".into()));
    }
    Ok(ok_json(
        StatusCode::OK,
        json!({ "dead_letters": out.iter().map(letter_json).collect::<Vec<_>>() }),
    ))
}

/// `POST /ondol/v1/dlq/{fn}/replay[?id=N]`: back on the queue, same request ids.
pub async fn dlq_replay(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let id = id_of(&q)?;
    let queue = api.queue.clone();
    let n = Api::blocking(move || {
        Ok(queue.replay_dead_letters(&name, id, chrono::Utc::now().timestamp_millis())?)
    })
    .await?;
    api.events.wake();
    Ok(ok_json(StatusCode::OK, json!({ "replayed": n })))
}

/// `DELETE /ondol/v1/dlq/{fn}[?id=N]`
pub async fn dlq_purge(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> Result<Response> {
    let id = id_of(&q)?;
    let queue = api.queue.clone();
    let n = Api::blocking(move || Ok(queue.purge_dead_letters(&name, id)?)).await?;
    Ok(ok_json(StatusCode::OK, json!({ "purged": n })))
}
