//! FunctionName and Qualifier as they arrive in paths and query strings, judged the
//! way Lambda's front end judges them: a member outside its pattern is a
//! ValidationException quoting the pattern, an ARN from another region is not found.

use ondol_core::arn::Arn;

use crate::error::{ApiError, Result};

/// Lambda's FunctionName pattern for reads (GetFunction, Invoke, DeleteFunction...).
const NAME_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";
/// The stricter pattern of CreateFunction (no `.`, no `$LATEST.PUBLISHED`).
const CREATE_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?";
const QUALIFIER_PATTERN: &str = "\\$(LATEST(\\.PUBLISHED)?)|[a-zA-Z0-9-_$]+";

/// AWS's message for a request member that fails its model.
pub fn invalid(value: &str, member: &str, constraint: &str) -> ApiError {
    ApiError::Validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

fn pattern(value: &str, member: &str, pattern: &str) -> ApiError {
    invalid(
        value,
        member,
        &format!("Member must satisfy regular expression pattern: {pattern}"),
    )
}

/// A FunctionName split as Lambda's pattern splits it.
struct Parts<'a> {
    region: Option<&'a str>,
    name: &'a str,
    qualifier: Option<&'a str>,
}

pub(crate) fn is_region(s: &str) -> bool {
    // [a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d, with an optional `eusc-` first.
    let s = s.strip_prefix("eusc-").unwrap_or(s);
    let p: Vec<&str> = s.split('-').collect();
    let lower = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase());
    let digit = |t: &str| t.len() == 1 && t.as_bytes()[0].is_ascii_digit();
    match p.as_slice() {
        [cc, area, n] => cc.len() == 2 && lower(cc) && lower(area) && digit(n),
        [cc, g, area, n] => {
            cc.len() == 2
                && lower(cc)
                && (*g == "gov" || (g.starts_with("iso") && g.len() <= 4 && lower(g)))
                && lower(area)
                && digit(n)
        }
        _ => false,
    }
}

fn word(s: &str, dot: bool) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (dot && b == b'.'))
}

/// Matches the rest of a FunctionName (after `arn:…:lambda:`), trying each optional
/// part present and absent, as the regex's backtracking would.
fn rest<'a>(t: &[&'a str], step: usize, strict: bool, out: &mut Parts<'a>) -> bool {
    let take = |ok: bool| ok && !t.is_empty();
    match step {
        0 if take(t.first().is_some_and(|s| is_region(s))) && rest(&t[1..], 1, strict, out) => {
            out.region = Some(t[0]);
            true
        }
        0 => rest(t, 1, strict, out),
        1 if take(
            t.first()
                .is_some_and(|s| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())),
        ) && rest(&t[1..], 2, strict, out) =>
        {
            true
        }
        1 => rest(t, 2, strict, out),
        2 if t.first() == Some(&"function") && rest(&t[1..], 3, strict, out) => true,
        2 => rest(t, 3, strict, out),
        _ => {
            let qual_ok =
                |q: &str| q == "$LATEST" || (!strict && q == "$LATEST.PUBLISHED") || word(q, false);
            match t {
                [n] if word(n, !strict) => {
                    (out.name, out.qualifier) = (*n, None);
                    true
                }
                [n, q] if word(n, !strict) && qual_ok(q) => {
                    (out.name, out.qualifier) = (*n, Some(*q));
                    true
                }
                _ => false,
            }
        }
    }
}

fn split(input: &str, strict: bool) -> Option<Parts<'_>> {
    let t: Vec<&str> = input.split(':').collect();
    let mut out = Parts {
        region: None,
        name: "",
        qualifier: None,
    };
    let partition = |p: &str| {
        p.is_empty()
            || (p.starts_with("aws") && p.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'))
    };
    if t.len() > 3
        && t[0] == "arn"
        && t[2] == "lambda"
        && partition(t[1])
        && rest(&t[3..], 0, strict, &mut out)
    {
        return Some(out);
    }
    rest(&t, 0, strict, &mut out).then_some(out)
}

fn check_qualifier(q: &str) -> Result<()> {
    if q.len() > 128 {
        return Err(invalid(
            q,
            "qualifier",
            "Member must have length less than or equal to 128",
        ));
    }
    let ok = q == "$LATEST"
        || q == "$LATEST.PUBLISHED"
        || q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$');
    if q.is_empty() || !ok {
        return Err(pattern(q, "qualifier", QUALIFIER_PATTERN));
    }
    Ok(())
}

fn other_region(arn: &Arn, region: Option<&str>) -> Result<()> {
    match region {
        Some(r) if r != arn.region => Err(ApiError::NotFound(format!(
            "Functions from '{r}' are not reachable in this region ('{}')",
            arn.region
        ))),
        _ => Ok(()),
    }
}

/// The derived-qualifier conflict, worded as AWS words it.
pub fn mismatch() -> ApiError {
    ApiError::InvalidParameter(
        "The derived qualifier from the function name does not match the specified qualifier."
            .into(),
    )
}

/// The function name and qualifier of a request on this node (`arn` gives its
/// region); a qualifier in the name that disagrees with `?Qualifier` is refused.
pub fn here(
    arn: &Arn,
    path_name: &str,
    query_qualifier: Option<&str>,
) -> Result<(String, Option<String>)> {
    if let Some(q) = query_qualifier {
        check_qualifier(q)?;
    }
    let p =
        split(path_name, false).ok_or_else(|| pattern(path_name, "functionName", NAME_PATTERN))?;
    other_region(arn, p.region)?;
    match (p.qualifier, query_qualifier) {
        (Some(a), Some(b)) if a != b => Err(mismatch()),
        (Some(a), _) => Ok((p.name.to_string(), Some(a.to_string()))),
        (None, q) => Ok((p.name.to_string(), q.map(str::to_string))),
    }
}

/// [`here`] without the region check, for callers that have no node ARN at hand.
pub fn resolve(path_name: &str, query_qualifier: Option<&str>) -> Result<(String, Option<String>)> {
    let p =
        split(path_name, false).ok_or_else(|| pattern(path_name, "functionName", NAME_PATTERN))?;
    here(
        &Arn {
            region: p.region.unwrap_or_default().to_string(),
            ..Arn::default()
        },
        path_name,
        query_qualifier,
    )
}

/// The bare name a CreateFunction gives (a name, or a full or partial ARN).
pub fn for_create(arn: &Arn, given: &str) -> Result<String> {
    if given.len() > 140 {
        return Err(invalid(
            given,
            "functionName",
            "Member must have length less than or equal to 140",
        ));
    }
    let p = split(given, true).ok_or_else(|| pattern(given, "functionName", CREATE_PATTERN))?;
    other_region(arn, p.region)?;
    if p.qualifier.is_some() {
        return Err(pattern(given, "functionName", CREATE_PATTERN));
    }
    if p.name.len() > 64 {
        // AWS files this one under InvalidParameterValueException, not ValidationException.
        return Err(ApiError::InvalidParameter(format!(
            "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64",
            p.name
        )));
    }
    Ok(p.name.to_string())
}

/// The function and qualifier of a per-qualifier setting (URL or async config):
/// `""` stands for the unqualified function.
pub fn keyed(
    arn: &Arn,
    path: &str,
    q: &std::collections::HashMap<String, String>,
) -> Result<(String, String)> {
    let (name, qual) = here(arn, path, q.get("Qualifier").map(String::as_str))?;
    Ok((name, qual.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, Option<String>) {
        here(&Arn::default(), s, None).unwrap()
    }

    #[test]
    fn parses_as_the_pattern_does() {
        assert_eq!(ok("f").0, "f");
        assert_eq!(ok("f:prod").1.as_deref(), Some("prod"));
        assert_eq!(ok("123456789012:function:f").0, "f");
        assert_eq!(
            ok("arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST")
                .1
                .as_deref(),
            Some("$LATEST")
        );
        // The regex reads a bare `...:function` as a function named "function".
        assert_eq!(
            ok("arn:aws:lambda:us-east-1:000000000000:function").0,
            "function"
        );
        assert_eq!(ok(&"a".repeat(65)).0.len(), 65);
    }

    #[test]
    fn refuses_what_the_pattern_refuses() {
        for bad in [
            "",
            "a/b",
            "*",
            "a:b:c:d:e",
            "function:f:$LATEST:extra",
            "invalid-account:function:f",
            "arn:aws:lambda::000000000000:function:f",
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATES",
        ] {
            assert!(
                matches!(
                    here(&Arn::default(), bad, None),
                    Err(ApiError::Validation(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            here(&Arn::default(), "f", Some("invalid!")),
            Err(ApiError::Validation(_))
        ));
    }

    #[test]
    fn other_regions_and_conflicts() {
        let e = here(
            &Arn::default(),
            "arn:aws:lambda:ap-southeast-1:000000000000:function:f",
            None,
        );
        assert!(matches!(e, Err(ApiError::NotFound(_))));
        assert!(matches!(
            here(&Arn::default(), "f:1", Some("2")),
            Err(ApiError::InvalidParameter(_))
        ));
        assert_eq!(
            here(&Arn::default(), "f:1", Some("1"))
                .unwrap()
                .1
                .as_deref(),
            Some("1")
        );
        assert!(for_create(&Arn::default(), "invalid:function:name").is_err());
        assert!(matches!(
            for_create(&Arn::default(), &"a".repeat(65)),
            Err(ApiError::InvalidParameter(_))
        ));
    }
}
