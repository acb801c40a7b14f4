//! API Gateway events (LAMBDA-COMPAT §3): payload 2.0 (HTTP API, Function URLs)
//! and 1.0 (REST API). Unlike API Gateway, `;` in a query string is data and
//! repeated keys keep every value.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{json, Map, Value};

/// What an event is built from.
pub struct RequestInfo<'a> {
    pub method: &'a str,
    /// The path the route matched (without a stage prefix).
    pub raw_path: &'a str,
    /// The path as requested.
    pub full_path: &'a str,
    pub stage: &'a str,
    pub variables: Option<&'a BTreeMap<String, String>>,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub route_key: &'a str,
    pub resource: Option<&'a str>,
    pub params: &'a [(String, String)],
    pub request_id: &'a str,
    pub source_ip: String,
    pub now: DateTime<Utc>,
    pub account: &'a str,
    /// `HTTP/1.1` or `HTTP/2.0`, as API Gateway writes them.
    pub protocol: &'a str,
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Query pairs split on `&` only, percent-decoded, in order.
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Text bodies travel as text; anything else (or invalid UTF-8) as base64.
fn body_field(headers: &HeaderMap, body: &[u8]) -> (Value, bool) {
    if body.is_empty() {
        return (Value::Null, false);
    }
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let textual = ct.is_empty()
        || ct.starts_with("text/")
        || [
            "json",
            "xml",
            "javascript",
            "x-www-form-urlencoded",
            "graphql",
            "yaml",
        ]
        .iter()
        .any(|t| ct.contains(t));
    match std::str::from_utf8(body) {
        Ok(s) if textual => (Value::String(s.to_string()), false),
        _ => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    }
}

fn header_str(v: &http::HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

/// `X-Custom-Header` from `x-custom-header`: HTTP/1 parsing lowers header names,
/// and most clients send them in this canonical case.
fn canonical_case(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn host(info: &RequestInfo<'_>) -> String {
    info.headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_string())
        .unwrap_or_else(|| "localhost".into())
}

fn user_agent(info: &RequestInfo<'_>) -> String {
    info.headers
        .get(http::header::USER_AGENT)
        .map(header_str)
        .unwrap_or_default()
}

fn params_map(params: &[(String, String)]) -> Map<String, Value> {
    params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// Payload format 2.0. Absent fields are omitted; cookies are not headers.
pub fn v2(info: &RequestInfo<'_>) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in info.headers {
        if name == http::header::COOKIE {
            cookies.extend(
                header_str(value)
                    .split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&header_str(value));
            })
            .or_insert_with(|| header_str(value));
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in query_pairs(info.raw_query) {
        query
            .entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let host = host(info);
    let (body, b64) = body_field(info.headers, info.body);
    let mut ev = json!({
        "version": "2.0",
        "routeKey": info.route_key,
        "rawPath": info.raw_path,
        "rawQueryString": info.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": info.account,
            "apiId": "ondol",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or(&host),
            "http": {
                "method": info.method,
                "path": decode(info.raw_path),
                "protocol": info.protocol,
                "sourceIp": info.source_ip,
                "userAgent": user_agent(info),
            },
            "requestId": info.request_id,
            "routeKey": info.route_key,
            "stage": info.stage,
            "time": info.now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": info.now.timestamp_millis(),
        },
        "isBase64Encoded": b64,
    });
    if !cookies.is_empty() {
        ev["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        ev["queryStringParameters"] = json!(query);
    }
    if !info.params.is_empty() {
        ev["pathParameters"] = Value::Object(params_map(info.params));
    }
    if !body.is_null() {
        ev["body"] = body;
    }
    if let Some(v) = info.variables {
        ev["stageVariables"] = json!(v);
    }
    ev
}

/// Payload format 1.0. Absent collections and body are `null`; single-value maps
/// keep the last value, multi-value maps keep every value.
pub fn v1(info: &RequestInfo<'_>) -> Value {
    let mut headers = Map::new();
    let mut multi: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (name, value) in info.headers {
        let n = canonical_case(name.as_str());
        headers.insert(n.clone(), Value::String(header_str(value)));
        multi
            .entry(n)
            .or_default()
            .push(Value::String(header_str(value)));
    }
    let mut q = Map::new();
    let mut mq: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, v) in query_pairs(info.raw_query) {
        q.insert(k.clone(), Value::String(v.clone()));
        mq.entry(k).or_default().push(Value::String(v));
    }
    let or_null = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    let multi_or_null =
        |m: BTreeMap<String, Vec<Value>>| if m.is_empty() { Value::Null } else { json!(m) };
    let host = host(info);
    let (body, b64) = body_field(info.headers, info.body);
    let path = decode(info.raw_path);
    json!({
        "resource": info.resource.unwrap_or("/{proxy+}"),
        "path": path,
        "httpMethod": info.method,
        "headers": or_null(headers),
        "multiValueHeaders": multi_or_null(multi),
        "queryStringParameters": or_null(q),
        "multiValueQueryStringParameters": multi_or_null(mq),
        "pathParameters": or_null(params_map(info.params)),
        "stageVariables": info.variables.map_or(Value::Null, |v| json!(v)),
        "requestContext": {
            "accountId": info.account,
            "apiId": "ondol",
            "resourceId": "ondol",
            "resourcePath": info.resource.unwrap_or("/{proxy+}"),
            "httpMethod": info.method,
            "path": decode(info.full_path),
            "stage": info.stage,
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or(&host),
            "requestId": info.request_id,
            "extendedRequestId": info.request_id,
            "protocol": info.protocol,
            "requestTime": info.now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "requestTimeEpoch": info.now.timestamp_millis(),
            "identity": {
                "sourceIp": info.source_ip,
                "userAgent": user_agent(info),
                "accessKey": null, "accountId": null, "caller": null, "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null, "cognitoIdentityId": null, "cognitoIdentityPoolId": null,
                "principalOrgId": null, "user": null, "userArn": null,
            },
            "authorizer": null,
        },
        "body": body,
        "isBase64Encoded": b64,
    })
}

/// `requestContext.protocol` for the request's HTTP version.
pub fn protocol(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_are_data_and_repeats_are_kept() {
        let p = query_pairs("idList=1;2;3&filter=name;phone&id=1&id=2&sp=a%20b&plus=a+b");
        assert_eq!(p[0], ("idList".into(), "1;2;3".into()));
        assert_eq!(p[1], ("filter".into(), "name;phone".into()));
        assert_eq!(p.iter().filter(|(k, _)| k == "id").count(), 2);
        assert_eq!(p[4].1, "a b");
        assert_eq!(p[5].1, "a+b");
    }

    #[test]
    fn canonical_header_case() {
        assert_eq!(canonical_case("x-custom-header"), "X-Custom-Header");
        assert_eq!(canonical_case("content-type"), "Content-Type");
    }
}
