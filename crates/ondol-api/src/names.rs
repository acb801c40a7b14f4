//! FunctionName and Qualifier as they arrive in paths and query strings.

use ondol_core::name::parse_function_name;

use crate::error::{ApiError, Result};

/// The function name and qualifier of a request; a qualifier in the name that
/// disagrees with `?Qualifier` is refused.
pub fn resolve(path_name: &str, query_qualifier: Option<&str>) -> Result<(String, Option<String>)> {
    let r =
        parse_function_name(path_name).map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
    match (r.qualifier, query_qualifier) {
        (Some(a), Some(b)) if a != b => Err(ApiError::InvalidParameter(format!(
            "The derived qualifier from the function name '{a}' does not match the specified qualifier '{b}'."
        ))),
        (Some(a), _) => Ok((r.name, Some(a))),
        (None, q) => Ok((r.name, q.map(str::to_string))),
    }
}

/// The function and qualifier of a per-qualifier setting (URL or async config):
/// `""` stands for the unqualified function.
pub fn keyed(
    path: &str,
    q: &std::collections::HashMap<String, String>,
) -> Result<(String, String)> {
    let (name, qual) = resolve(path, q.get("Qualifier").map(String::as_str))?;
    Ok((name, qual.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicting_qualifiers_are_refused() {
        assert!(resolve("f:1", Some("2")).is_err());
        assert_eq!(resolve("f:1", Some("1")).unwrap().1.as_deref(), Some("1"));
        assert_eq!(
            resolve("f", Some("prod")).unwrap().1.as_deref(),
            Some("prod")
        );
    }
}
