//! Lambda's destination record, sent to a success or failure destination and kept
//! with each dead letter.

use ondol_core::Arn;
use ondol_store::QueuedEvent;
use serde_json::{json, Value};

/// The function a destination ARN names (`arn:aws:lambda:…:function:name[:q]`);
/// other services' ARNs are not destinations ondol can deliver to.
pub fn destination_function(arn: &str) -> Option<(String, Option<String>)> {
    let r = ondol_core::name::parse_function_name(arn).ok()?;
    arn.starts_with("arn:").then_some((r.name, r.qualifier))
}

/// The condition of an event failed because the function's reserved concurrency is 0.
pub const ZERO_RESERVED: &str = "ZeroReservedConcurrency";

fn payload_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// `{version, timestamp, requestContext, requestPayload, responseContext, responsePayload}`.
pub fn build(
    arn: &Arn,
    ev: &QueuedEvent,
    condition: &str,
    invoke_count: u32,
    executed_version: &str,
    function_error: Option<&str>,
    response: &[u8],
) -> Value {
    let mut response_context = json!({ "statusCode": 200, "executedVersion": executed_version });
    if let Some(e) = function_error {
        response_context["functionError"] = Value::String(e.to_string());
    }
    let mut record = json!({
        "version": "1.0",
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "requestContext": {
            "requestId": ev.request_id,
            "functionArn": arn.qualified(&ev.function, Some(ev.qualifier.as_deref().unwrap_or("$LATEST"))),
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": payload_json(&ev.payload),
        "responseContext": response_context,
        "responsePayload": payload_json(response),
    });
    // Nothing ran, so Lambda's record has no response.
    if condition == ZERO_RESERVED {
        if let Some(o) = record.as_object_mut() {
            o.remove("responseContext");
            o.remove("responsePayload");
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_function_arns() {
        assert_eq!(
            destination_function("arn:aws:lambda:us-east-1:000000000000:function:dlq"),
            Some(("dlq".to_string(), None))
        );
        assert_eq!(
            destination_function("arn:aws:lambda:us-east-1:000000000000:function:dlq:prod"),
            Some(("dlq".to_string(), Some("prod".to_string())))
        );
        assert_eq!(
            destination_function("arn:aws:sqs:us-east-1:000000000000:q"),
            None
        );
        assert_eq!(destination_function("plainname"), None);
    }
}
