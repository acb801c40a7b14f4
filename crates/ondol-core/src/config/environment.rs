//! The rules for a function's environment variables, as Lambda enforces them: a
//! key pattern, keys Lambda sets itself, and a 4 KB total. Values must also fit a
//! process environment (no NUL byte: `execve` would cut the string there).

use std::collections::BTreeMap;

/// Keys Lambda sets for every instance and refuses from users (AWS's list; ondol
/// sets the same ones).
pub const RESERVED_KEYS: [&str; 18] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Lambda's limit on all variables together, measured as compact JSON.
pub const MAX_BYTES: usize = 4096;

/// The key pattern shown in errors. AWS's model says `[a-zA-Z]([a-zA-Z0-9_])+`;
/// ondol also takes one-letter keys, which every shell and runtime handles.
pub const KEY_PATTERN: &str = "[a-zA-Z][a-zA-Z0-9_]*";

fn valid_key(k: &str) -> bool {
    let mut b = k.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Checks every rule (reserved keys first: `_HANDLER` would also fail the
/// pattern, and the reserved-key message says more); the message names `Environment.Variables` and the key, in
/// Lambda's words where Lambda has them.
pub fn check(env: &BTreeMap<String, String>) -> Result<(), String> {
    let reserved: Vec<&str> = env
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_KEYS.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(",")
        ));
    }
    if let Some(k) = env.keys().find(|k| !valid_key(k)) {
        return Err(format!(
            "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {KEY_PATTERN}] (Environment.Variables key {k:?})"
        ));
    }
    if let Some(k) = env.iter().find(|(_, v)| v.contains('\0')).map(|(k, _)| k) {
        return Err(format!(
            "Environment.Variables.{k}: the value contains a NUL character, which a process environment cannot hold"
        ));
    }
    let measured = serde_json::to_string(env).unwrap_or_default();
    if measured.len() > MAX_BYTES {
        // AWS quotes the whole string back; its size is enough to act on, and
        // values may be secrets.
        return Err(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {} bytes (Environment.Variables)",
            measured.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_follow_the_pattern() {
        assert!(check(&env(&[("GREETING", "hi"), ("A", "1"), ("x_1", "")])).is_ok());
        for bad in ["A=B", "", "1ABC", "_X", "KÉY", "A-B", "A B", "A\0B"] {
            let e = check(&env(&[(bad, "v")])).unwrap_err();
            assert!(e.contains("environment.variables"), "{bad}: {e}");
        }
    }

    #[test]
    fn reserved_keys_are_refused_in_lambdas_words() {
        let e = check(&env(&[("AWS_LAMBDA_RUNTIME_API", "x"), ("OK", "1")])).unwrap_err();
        assert!(
            e.ends_with("Reserved keys used in this request: AWS_LAMBDA_RUNTIME_API"),
            "{e}"
        );
        let e = check(&env(&[("_HANDLER", "x"), ("AWS_REGION", "y")])).unwrap_err();
        assert!(e.ends_with("AWS_REGION,_HANDLER"), "{e}");
    }

    #[test]
    fn values_and_size() {
        let e = check(&env(&[("K", "a\0b")])).unwrap_err();
        assert!(e.starts_with("Environment.Variables.K: "), "{e}");
        assert!(check(&env(&[("K", "line\nbreak")])).is_ok());
        // {"K":"…"} is 8 bytes around the value.
        let big = "x".repeat(MAX_BYTES - 8);
        assert!(check(&env(&[("K", &big)])).is_ok());
        let e = check(&env(&[("K", &format!("{big}x"))])).unwrap_err();
        assert!(e.contains("exceeded the 4KB limit"), "{e}");
    }
}
