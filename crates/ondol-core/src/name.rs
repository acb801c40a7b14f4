//! Function names as clients send them: a name, `name:qualifier`, a full ARN or a
//! partial ARN (`123456789012:function:name[:qualifier]`).

use thiserror::Error;

/// Why a FunctionName could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error("FunctionName '{0}' is not a function name or ARN: it must match [a-zA-Z0-9-_]+ and be at most 64 characters, optionally followed by ':qualifier'")]
    Malformed(String),
}

/// A parsed FunctionName: the bare name and the qualifier it carried, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    pub qualifier: Option<String>,
}

/// True for a valid bare function name: `[a-zA-Z0-9-_]{1,64}`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// True for a valid layer name: `[a-zA-Z0-9-_]{1,140}`.
pub fn valid_layer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 140
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// True for a valid qualifier: `$LATEST`, a version number or an alias name.
pub fn valid_qualifier(q: &str) -> bool {
    q == "$LATEST"
        || (!q.is_empty()
            && q.len() <= 128
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Parses any FunctionName form Lambda accepts.
pub fn parse_function_name(input: &str) -> Result<FunctionRef, NameError> {
    let bad = || NameError::Malformed(input.to_string());
    let parts: Vec<&str> = input.split(':').collect();
    let (name, qualifier) = match parts.as_slice() {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        // 123456789012:function:name[:qualifier]
        [_, "function", name] => (*name, None),
        [_, "function", name, q] => (*name, Some(*q)),
        // arn:aws:lambda:region:account:function:name[:qualifier]
        ["arn", _, "lambda", _, _, "function", name] => (*name, None),
        ["arn", _, "lambda", _, _, "function", name, q] => (*name, Some(*q)),
        _ => return Err(bad()),
    };
    if !valid_name(name) || qualifier.is_some_and(|q| !valid_qualifier(q)) {
        return Err(bad());
    }
    Ok(FunctionRef {
        name: name.to_string(),
        qualifier: qualifier.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let f = |s| parse_function_name(s).unwrap();
        assert_eq!(f("fn").name, "fn");
        assert_eq!(f("fn:prod").qualifier.as_deref(), Some("prod"));
        assert_eq!(f("123456789012:function:fn").name, "fn");
        assert_eq!(
            f("arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST")
                .qualifier
                .as_deref(),
            Some("$LATEST")
        );
    }

    #[test]
    fn refuses_bad_names() {
        assert!(parse_function_name("").is_err());
        assert!(parse_function_name("a/b").is_err());
        assert!(parse_function_name(&"x".repeat(65)).is_err());
        assert!(parse_function_name("a:b:c:d:e").is_err());
    }
}
