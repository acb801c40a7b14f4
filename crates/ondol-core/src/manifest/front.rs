//! The rules for what the front door serves (an app stage's routes, hosts, CORS
//! and body limit), shared by the manifest and the server: the server gets an
//! [`AppHttp`] from any client, so it checks it again. Keys are the manifest's.

use std::collections::{BTreeMap, BTreeSet};

use super::{AppHttp, Authorizer, Cors, Route, DEFAULT_STAGE};

/// A refused value: the manifest key it is under, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.into(),
        message: message.into(),
    }
}

pub(crate) const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// A host name as the `Host` header carries it: lower-case labels of
/// `[a-z0-9-]`, no port, at most 253 characters.
pub fn check_host(h: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if h.is_empty() || h.len() > 253 || !h.split('.').all(label_ok) {
        return Err(format!(
            "expected a host name like \"api.example.com\" (letters, digits, '-' and '.', no port), got {h:?}"
        ));
    }
    Ok(())
}

/// `METHOD /path` or `$default` → (method or `None` for ANY, path or `None`).
pub fn parse_route(route: &str) -> Result<(Option<String>, Option<String>), String> {
    let route = route.trim();
    if route == "$default" {
        return Ok((None, None));
    }
    let (method, path) = route
        .split_once(' ')
        .ok_or_else(|| format!("expected \"METHOD /path\" or \"$default\", got {route:?}"))?;
    let method = method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(format!(
            "expected a method among {METHODS:?}, got {method:?}"
        ));
    }
    let path = path.trim();
    check_path(path)?;
    Ok(((method != "ANY").then_some(method), Some(path.to_string())))
}

/// A path pattern: `/`-separated segments, each literal or a whole-segment
/// `{name}` (`{name+}` last); no query, fragment, spaces or control characters
/// (a request path never contains them, so the route could never match).
fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("expected the path to start with '/', got {path:?}"));
    }
    if let Some(c) = path
        .chars()
        .find(|c| matches!(c, '?' | '#') || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "expected a path without a query, fragment, spaces or control characters, got {c:?} in {path:?}"
        ));
    }
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let mut names = BTreeSet::new();
    for (i, s) in segs.iter().enumerate() {
        if s.is_empty() && i + 1 != segs.len() {
            return Err(format!("expected no empty segment (\"//\") in {path:?}"));
        }
        if let Some(inner) = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!(
                    "expected a parameter name of [a-zA-Z0-9_] in \"{s}\""
                ));
            }
            if greedy && i + 1 != segs.len() {
                return Err(format!(
                    "a greedy parameter \"{s}\" must be the last segment"
                ));
            }
            if !names.insert(name) {
                return Err(format!(
                    "parameter {{{name}}} appears twice in {path:?}: each needs its own name"
                ));
            }
        } else if s.contains('{') || s.contains('}') {
            return Err(format!(
                "expected a whole-segment parameter like {{id}}, got \"{s}\""
            ));
        }
    }
    Ok(())
}

/// Checks one route as stored: its key parses to its method and path (the server
/// matches on those), and its host, timeout and rate limit can work.
fn check_route(
    r: &Route,
    authorizers: &BTreeMap<String, Authorizer>,
    at: &dyn Fn(&str) -> String,
) -> Result<(), Invalid> {
    let parsed = parse_route(&r.key).map_err(|m| invalid(at("route"), m))?;
    if parsed != (r.method.clone(), r.path.clone()) {
        return Err(invalid(
            at("route"),
            format!("method and path do not match the route {:?}", r.key),
        ));
    }
    if let Some(h) = &r.host {
        check_host(h).map_err(|m| invalid(at("host"), m))?;
    }
    if r.timeout_ms == Some(0) {
        return Err(invalid(at("timeout"), "expected a duration above 0"));
    }
    if let Some(a) = &r.auth {
        super::auth::check_route_auth(a, authorizers).map_err(|m| invalid(at("auth"), m))?;
    }
    if let Some(rl) = r.rate_limit {
        if !rl.rps.is_finite() || rl.rps <= 0.0 {
            return Err(invalid(
                at("rate_limit.rps"),
                "expected a number of requests per second above 0",
            ));
        }
        if rl.burst == 0 {
            return Err(invalid(at("rate_limit.burst"), "expected at least 1"));
        }
    }
    Ok(())
}

/// Each CORS value goes into a response header: printable ASCII only.
fn check_cors(c: &Cors) -> Result<(), Invalid> {
    for (k, list) in [
        ("allow_origins", &c.allow_origins),
        ("allow_methods", &c.allow_methods),
        ("allow_headers", &c.allow_headers),
        ("expose_headers", &c.expose_headers),
    ] {
        for (i, v) in list.iter().enumerate() {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid(
                    format!("http.cors.{k}[{i}]"),
                    format!("expected a header value of printable ASCII without spaces, got {v:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks everything one app stage would serve; the error's key is the manifest's.
pub fn check_http(http: &AppHttp) -> Result<(), Invalid> {
    let hosts_key = format!("stages.{}.hosts", http.stage);
    if http.stage == DEFAULT_STAGE && !http.hosts.is_empty() {
        return Err(invalid(
            hosts_key,
            "the $default stage is served at the root of every host; give hosts to a named stage",
        ));
    }
    for h in &http.hosts {
        check_host(h).map_err(|m| invalid(&hosts_key, m))?;
    }
    for (i, r) in http.routes.iter().enumerate() {
        check_route(r, &http.authorizers, &|k| format!("routes[{i}].{k}"))?;
        if http.routes[..i]
            .iter()
            .any(|b| b.method == r.method && b.path == r.path && b.host == r.host)
        {
            return Err(invalid(
                format!("routes[{i}].route"),
                format!("{:?} is defined twice", r.key),
            ));
        }
    }
    if let Some(c) = &http.cors {
        check_cors(c)?;
    }
    for (name, p) in &http.usage_plans {
        super::plans::check_plan(p)
            .map_err(|(k, m)| invalid(format!("usage_plans.{name}.{k}"), m))?;
    }
    if http.max_request_body == 0 {
        return Err(invalid(
            "http.max_request_body",
            "expected a size above 0 (0 refuses every request with a body)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in ["api.example.com", "localhost", "a-b.c1"] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "not a host!",
            "a..b",
            "-a.com",
            "a.com:8080",
            "a/b",
            "API.com",
            "a\r\nb",
            "é.com",
        ] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn route_paths() {
        assert_eq!(
            parse_route("get /items/{id}").unwrap(),
            (Some("GET".into()), Some("/items/{id}".into()))
        );
        assert!(parse_route("ANY /").is_ok());
        assert!(parse_route("GET /a/").is_ok());
        let e = |r: &str| parse_route(r).unwrap_err();
        assert!(e("GET /a?x=1").contains("query"), "{}", e("GET /a?x=1"));
        assert!(e("GET /a#b").contains("fragment"));
        assert!(e("GET /a\tb").contains("control"));
        assert!(e("GET /{x}/{x}").contains("twice"));
        assert!(e("GET /{x}/{x+}").contains("twice"));
        assert!(e("GET /a//b").contains("empty segment"));
        assert!(e("GET a").contains("start with '/'"));
        assert!(e("FETCH /a").contains("method"));
    }
}
