//! `[authorizers.NAME]` and a route's `auth`/`scopes`: JWT authorizers (issuer,
//! audiences, JWKS) and Lambda authorizers (a function of the app, identity
//! sources, a result cache), resolved into what the front door enforces.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DeployedFunction, Dur, ManifestError};

/// The identity source when none is given: the `Authorization` header.
pub const DEFAULT_IDENTITY: &str = "$request.header.Authorization";

/// One string or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// `[authorizers.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerDef {
    /// `"jwt"` or `"lambda"` (required).
    #[serde(rename = "type")]
    pub kind: String,
    /// jwt: the `iss` every token must carry (required); its
    /// `/.well-known/openid-configuration` names the JWKS.
    pub issuer: Option<String>,
    /// jwt: accepted `aud` (or `client_id`) values, at least one (required).
    #[serde(default)]
    pub audience: Vec<String>,
    /// jwt: the JWKS URL, instead of the issuer's discovery document.
    pub jwks_uri: Option<String>,
    /// Where the identity is read (default `$request.header.Authorization`).
    pub identity_source: Option<OneOrMany>,
    /// lambda: a key of `[functions]` (required).
    pub function: Option<String>,
    /// lambda: how long an answer is reused for the same identity (default 0: never).
    pub ttl: Option<Dur>,
}

/// A JWT authorizer as the front door enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtAuthorizer {
    pub issuer: String,
    pub audience: Vec<String>,
    pub jwks_uri: Option<String>,
    pub identity_source: String,
}

/// A Lambda authorizer as the front door enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaAuthorizer {
    /// The Lambda function name (`<app>-<function>`).
    pub function: String,
    /// The alias invoked (a stage's, like its routes); `None`: `$LATEST`.
    #[serde(default)]
    pub qualifier: Option<String>,
    pub identity_source: Vec<String>,
    pub ttl_s: u64,
}

/// An authorizer of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Authorizer {
    Jwt(JwtAuthorizer),
    Lambda(LambdaAuthorizer),
}

/// A route's `auth = "NAME"` with its `scopes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteAuth {
    pub authorizer: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A refused key under `[authorizers.NAME]` (`key`) and what was expected.
type Refused = (&'static str, String);

/// Checks every `[authorizers.NAME]`; a Lambda authorizer's function must be one of `functions`.
pub(super) fn resolve_authorizers(
    defs: BTreeMap<String, AuthorizerDef>,
    functions: &[DeployedFunction],
    file: &str,
) -> Result<BTreeMap<String, Authorizer>, ManifestError> {
    let mut out = BTreeMap::new();
    for (name, d) in defs {
        let a = resolve_one(d, functions).map_err(|(k, message)| ManifestError {
            file: file.to_string(),
            key: format!("authorizers.{name}.{k}"),
            message,
        })?;
        out.insert(name, a);
    }
    Ok(out)
}

fn resolve_one(d: AuthorizerDef, functions: &[DeployedFunction]) -> Result<Authorizer, Refused> {
    let sources = d.identity_source.clone().map(OneOrMany::into_vec);
    if let Some(s) = sources.iter().flatten().find(|s| !is_identity(s)) {
        return Err((
            "identity_source",
            format!(
                "expected \"$request.header.NAME\" or \"$request.querystring.NAME\", got {s:?}"
            ),
        ));
    }
    let sources = sources.unwrap_or_else(|| vec![DEFAULT_IDENTITY.into()]);
    match d.kind.as_str() {
        "jwt" => jwt(d, sources),
        "lambda" => lambda(d, sources, functions),
        other => Err((
            "type",
            format!("expected \"jwt\" or \"lambda\", got \"{other}\""),
        )),
    }
}

fn jwt(d: AuthorizerDef, mut sources: Vec<String>) -> Result<Authorizer, Refused> {
    let issuer = d
        .issuer
        .filter(|i| i.starts_with("https://") || i.starts_with("http://"))
        .ok_or((
            "issuer",
            "expected the issuer URL, like \"https://auth.example.com/\" (the iss of its tokens)"
                .into(),
        ))?;
    if d.audience.is_empty() {
        return Err((
            "audience",
            "expected at least one audience (the aud or client_id of accepted tokens)".into(),
        ));
    }
    if sources.len() != 1 {
        return Err((
            "identity_source",
            "a JWT authorizer reads one identity source".into(),
        ));
    }
    if d.function.is_some() || d.ttl.is_some() {
        return Err(("type", "function and ttl are for type = \"lambda\"".into()));
    }
    Ok(Authorizer::Jwt(JwtAuthorizer {
        issuer,
        audience: d.audience,
        jwks_uri: d.jwks_uri,
        identity_source: sources.remove(0),
    }))
}

fn lambda(
    d: AuthorizerDef,
    sources: Vec<String>,
    functions: &[DeployedFunction],
) -> Result<Authorizer, Refused> {
    let key = d.function.ok_or((
        "function",
        "expected the function that decides, a key of [functions]".into(),
    ))?;
    let Some(f) = functions.iter().find(|f| f.key == key) else {
        return Err((
            "function",
            format!("expected one of the functions defined in this file, got \"{key}\""),
        ));
    };
    if d.issuer.is_some() || !d.audience.is_empty() || d.jwks_uri.is_some() {
        return Err((
            "type",
            "issuer, audience and jwks_uri are for type = \"jwt\"".into(),
        ));
    }
    Ok(Authorizer::Lambda(LambdaAuthorizer {
        function: f.config.name.clone(),
        qualifier: None,
        identity_source: sources,
        ttl_s: d.ttl.map_or(0, |t| t.0.as_secs()),
    }))
}

/// `$request.header.NAME` or `$request.querystring.NAME`.
pub fn is_identity(s: &str) -> bool {
    let name = s
        .strip_prefix("$request.header.")
        .or_else(|| s.strip_prefix("$request.querystring."));
    name.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
}

/// A route's `auth`, checked against the app's authorizers: the error is the message.
pub fn check_route_auth(
    auth: &RouteAuth,
    authorizers: &BTreeMap<String, Authorizer>,
) -> Result<(), String> {
    match authorizers.get(&auth.authorizer) {
        Some(Authorizer::Lambda(_)) if !auth.scopes.is_empty() => {
            Err("scopes are checked by JWT authorizers only".into())
        }
        Some(_) => Ok(()),
        None => {
            let names: Vec<String> = authorizers.keys().map(|k| format!("\"{k}\"")).collect();
            let mut m = format!(
                "expected one of the authorizers defined in this file ({}), got \"{}\"",
                if names.is_empty() {
                    "none: add [authorizers.NAME]".into()
                } else {
                    names.join(", ")
                },
                auth.authorizer
            );
            if let Some(near) =
                super::layers::nearest(&auth.authorizer, authorizers.keys().map(String::as_str))
            {
                m.push_str(&format!("; did you mean \"{near}\"?"));
            }
            Err(m)
        }
    }
}

/// Points Lambda authorizers at a stage's alias, as its routes are.
pub(super) fn set_qualifier(authorizers: &mut BTreeMap<String, Authorizer>, alias: &str) {
    for a in authorizers.values_mut() {
        if let Authorizer::Lambda(l) = a {
            l.qualifier = Some(alias.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sources() {
        assert!(is_identity("$request.header.Authorization"));
        assert!(is_identity("$request.querystring.token"));
        assert!(!is_identity("$request.header."));
        assert!(!is_identity("header.Authorization"));
    }

    #[test]
    fn unknown_authorizer_names_the_defined_ones() {
        let mut a = BTreeMap::new();
        a.insert(
            "main".to_string(),
            Authorizer::Lambda(LambdaAuthorizer {
                function: "x-f".into(),
                qualifier: None,
                identity_source: vec![DEFAULT_IDENTITY.into()],
                ttl_s: 0,
            }),
        );
        let r = RouteAuth {
            authorizer: "mian".into(),
            scopes: vec![],
        };
        let m = check_route_auth(&r, &a).unwrap_err();
        assert!(
            m.contains("(\"main\")") && m.contains("did you mean \"main\"?"),
            "{m}"
        );
        let r = RouteAuth {
            authorizer: "main".into(),
            scopes: vec!["read".into()],
        };
        assert!(check_route_auth(&r, &a).unwrap_err().contains("JWT"));
    }

    const APP: &str = r#"
app = "shop"
[functions.f]
runtime = "python3.11"
handler = "app.handler"
code = "f"
[authorizers.users]
type = "jwt"
issuer = "https://auth.example.com/"
audience = ["web"]
[authorizers.gate]
type = "lambda"
function = "f"
ttl = "5m"
[[routes]]
route = "GET /a"
function = "f"
auth = "users"
scopes = ["read"]
"#;

    fn resolve(text: &str) -> Result<super::super::Deployment, String> {
        super::super::Manifest::parse(text, "ondol.toml")
            .and_then(|m| m.resolve(std::path::Path::new("/app"), "ondol.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn resolved_and_refused() {
        let d = resolve(APP).unwrap();
        let r = &d.http.routes[0];
        assert_eq!(r.auth.as_ref().unwrap().scopes, ["read"]);
        match &d.http.authorizers["gate"] {
            Authorizer::Lambda(l) => assert_eq!((l.function.as_str(), l.ttl_s), ("shop-f", 300)),
            other => panic!("{other:?}"),
        }
        let staged = d.for_stage(crate::manifest::DEFAULT_STAGE).unwrap();
        assert!(
            matches!(&staged.http.authorizers["gate"], Authorizer::Lambda(l) if l.qualifier.is_some())
        );
        let e = |from: &str, to: &str| resolve(&APP.replace(from, to)).unwrap_err();
        let m = e("auth = \"users\"", "auth = \"user\"");
        assert!(m.starts_with("ondol.toml: routes[0].auth: expected one of the authorizers defined in this file (\"gate\", \"users\"), got \"user\"; did you mean \"users\"?"), "{m}");
        assert!(e("function = \"f\"\nttl", "function = \"g\"\nttl")
            .contains("authorizers.gate.function: expected one of the functions"));
        assert!(e("audience = [\"web\"]", "audience = []").contains("authorizers.users.audience"));
        assert!(e("type = \"jwt\"", "type = \"oauth\"")
            .contains("authorizers.users.type: expected \"jwt\" or \"lambda\""));
        assert!(e(
            "issuer = \"https://auth.example.com/\"",
            "issuer = \"auth\""
        )
        .contains("authorizers.users.issuer"));
        assert!(e("ttl = \"5m\"", "identity_source = [\"Authorization\"]")
            .contains("authorizers.gate.identity_source"));
    }
}
