//! Function results to HTTP responses, for both payload formats.

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

fn add(resp: &mut Response, name: &str, value: &Value) -> Result<(), String> {
    let v = match value {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        Value::Null => return Ok(()),
        _ => return Err(format!("header {name} is not a string")),
    };
    let n = HeaderName::try_from(name).map_err(|_| format!("invalid header name {name:?}"))?;
    let v = HeaderValue::try_from(v).map_err(|_| format!("invalid value for header {name}"))?;
    resp.headers_mut().append(n, v);
    Ok(())
}

fn body_of(obj: &serde_json::Map<String, Value>) -> Result<Vec<u8>, String> {
    let b64 = obj
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match obj.get("body") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if b64 => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("body is not valid base64: {e}")),
        Some(Value::String(s)) => Ok(s.clone().into_bytes()),
        Some(other) => Ok(other.to_string().into_bytes()),
    }
}

fn status_of(obj: &serde_json::Map<String, Value>) -> Result<StatusCode, String> {
    let code = obj
        .get("statusCode")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or("statusCode is not a number")?;
    StatusCode::from_u16(code as u16)
        .map_err(|_| format!("statusCode {code} is not an HTTP status"))
}

fn structured(obj: &serde_json::Map<String, Value>) -> Result<Response, String> {
    let mut resp = Response::new(Body::from(body_of(obj)?));
    *resp.status_mut() = status_of(obj)?;
    if let Some(h) = obj.get("headers") {
        for (k, v) in h.as_object().ok_or("headers is not an object")? {
            add(&mut resp, k, v)?;
        }
    }
    if let Some(h) = obj.get("multiValueHeaders").filter(|v| !v.is_null()) {
        for (k, vs) in h.as_object().ok_or("multiValueHeaders is not an object")? {
            let vs = vs
                .as_array()
                .ok_or("multiValueHeaders values must be lists")?;
            // The two maps are merged; a name in both keeps the multi-value list.
            resp.headers_mut().remove(k.as_str());
            for v in vs {
                add(&mut resp, k, v)?;
            }
        }
    }
    if let Some(c) = obj.get("cookies").filter(|v| !v.is_null()) {
        for cookie in c.as_array().ok_or("cookies is not a list")? {
            add(&mut resp, "set-cookie", cookie)?;
        }
    }
    Ok(resp)
}

/// Payload 2.0's response: structured when `statusCode` is there, else the JSON
/// itself is the 200 body (a JSON string is used as the raw text).
pub fn v2(payload: &[u8]) -> Result<Response, String> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| format!("response is not JSON: {e}"))?;
    if let Value::Object(obj) = &v {
        if obj.contains_key("statusCode") {
            return structured(obj);
        }
    }
    let (text, ct) = match &v {
        Value::String(s) => (s.clone(), "text/plain; charset=utf-8"),
        other => (other.to_string(), "application/json"),
    };
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(ct));
    Ok(resp)
}

/// Payload 1.0's response: must be an object with `statusCode`.
pub fn v1(payload: &[u8]) -> Result<Response, String> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| format!("response is not JSON: {e}"))?;
    match &v {
        Value::Object(obj) if obj.contains_key("statusCode") => structured(obj),
        _ => Err("a payload 1.0 response must be an object with statusCode".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_infers_and_structures() {
        let r = v2(br#"{"hello": "world"}"#).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        let r = v2(br#"{"statusCode": 201, "headers": {"x-a": "1"}, "cookies": ["a=1", "b=2"], "body": "aGk=", "isBase64Encoded": true}"#).unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        assert!(v2(b"not json").is_err());
    }

    #[test]
    fn v1_merges_header_maps_and_refuses_malformed() {
        let r = v1(br#"{"statusCode": 200, "headers": {"a": "1", "b": "x"}, "multiValueHeaders": {"b": ["1", "2"]}, "body": "ok"}"#).unwrap();
        assert_eq!(r.headers().get_all("b").iter().count(), 2);
        assert_eq!(r.headers()["a"], "1");
        assert!(v1(br#"{"body": "no status"}"#).is_err());
        assert!(v1(br#""just a string""#).is_err());
    }
}
