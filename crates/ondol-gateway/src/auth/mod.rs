//! Authorizers on routes (`auth = "NAME"`): JWT and Lambda authorizers run before
//! the integration, answer 401/403/500 as API Gateway does, and what they grant
//! (claims and scopes, or a Lambda's context) is put into the event.

mod jwks;
mod jwt;
mod lambda;

use std::net::SocketAddr;
use std::sync::Arc;

use http::StatusCode;
use ondol_core::manifest::{AppHttp, Authorizer, PayloadFormat, Route};
use ondol_engine::Engine;
use serde_json::{json, Map, Value};

/// A route's authorizer, compiled with the route table.
pub struct Guard {
    /// `<app>/<stage>/<name>`: Lambda decisions are cached under it.
    pub id: String,
    pub authorizer: Authorizer,
    pub scopes: Vec<String>,
}

/// The guard of route `r` of `app`; a name the app does not define is refused
/// rather than served open.
pub fn guard(app: &AppHttp, r: &Route) -> Result<Option<Arc<Guard>>, String> {
    let Some(a) = &r.auth else { return Ok(None) };
    let authorizer = app.authorizers.get(&a.authorizer).cloned().ok_or_else(|| {
        format!(
            "app {}: route \"{}\" names authorizer \"{}\", which the app does not define",
            app.app, r.key, a.authorizer
        )
    })?;
    Ok(Some(Arc::new(Guard {
        id: format!("{}/{}/{}", app.app, app.stage, a.authorizer),
        authorizer,
        scopes: a.scopes.clone(),
    })))
}

/// What an authorizer granted, for the event.
pub enum Granted {
    Jwt {
        claims: Map<String, Value>,
        scopes: Option<Vec<String>>,
    },
    Lambda {
        principal: Option<String>,
        context: Map<String, Value>,
    },
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401 with `WWW-Authenticate: Bearer …` (`None`: no token at all).
    Unauthorized(Option<String>),
    /// 403; for a JWT, the scopes the route needs.
    Forbidden(Option<Vec<String>>),
    /// 500: the authorizer itself failed.
    Failed,
}

impl Refusal {
    /// API Gateway's status and `message` for the refusal.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            Self::Failed => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    }

    /// The `WWW-Authenticate` challenge API Gateway sends with it, if any.
    pub fn challenge(&self) -> Option<String> {
        match self {
            Self::Unauthorized(None) => Some("Bearer".into()),
            Self::Unauthorized(Some(d)) => Some(format!(
                "Bearer scope=\"\" error=\"invalid_token\" error_description=\"{d}\""
            )),
            Self::Forbidden(Some(s)) => Some(format!(
                "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"the token does not have the required scopes\"",
                s.join(" ")
            )),
            Self::Forbidden(None) | Self::Failed => None,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unauthorized(None) => f.write_str("no token: the route's authorizer needs one"),
            Self::Unauthorized(Some(d)) => write!(f, "the token is refused: {d}"),
            Self::Forbidden(Some(s)) => {
                write!(f, "the token lacks the route's scopes ({})", s.join(" "))
            }
            Self::Forbidden(None) => f.write_str("the authorizer denied the request"),
            Self::Failed => f.write_str("the authorizer failed"),
        }
    }
}

/// The state authorizers keep across requests and route-table rebuilds.
pub struct Auth {
    jwks: jwks::Jwks,
    decisions: lambda::Cache,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            jwks: jwks::Jwks::new(),
            decisions: lambda::Cache::default(),
        }
    }
}

/// The request as an authorizer sees it (its body is never read first).
pub struct Asked<'a> {
    pub req: &'a http::request::Parts,
    /// The path the route matched (without a stage prefix).
    pub path: &'a str,
    pub params: &'a [(String, String)],
    pub stage: &'a str,
    pub route: &'a Route,
    pub peer: SocketAddr,
}

impl Auth {
    /// Runs `guard` on a request: what it granted, or why it is refused.
    /// A CORS preflight carries no credentials and is never refused.
    pub async fn check(
        &self,
        engine: &Engine,
        guard: &Guard,
        asked: &Asked<'_>,
    ) -> Result<Option<Granted>, Refusal> {
        if asked.req.method == http::Method::OPTIONS
            && crate::route::is_preflight(&asked.req.headers)
        {
            return Ok(None);
        }
        let out = match &guard.authorizer {
            Authorizer::Jwt(j) => jwt::check(&self.jwks, j, &guard.scopes, asked).await,
            Authorizer::Lambda(l) => {
                lambda::check(&self.decisions, engine, &guard.id, l, asked).await
            }
        };
        match out {
            Ok(g) => Ok(Some(g)),
            Err(refusal) => {
                tracing::info!(route = %asked.route.key, authorizer = %guard.id, ?refusal, "request refused by its authorizer");
                Err(refusal)
            }
        }
    }
}

/// The identity a source names: `$request.header.NAME` (values of a repeated
/// header joined with `,`) or `$request.querystring.NAME`; empty counts as missing.
fn identity(source: &str, req: &http::request::Parts) -> Option<String> {
    let v = if let Some(h) = source.strip_prefix("$request.header.") {
        let vals: Vec<String> = req
            .headers
            .get_all(h)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        vals.join(",")
    } else {
        let q = source.strip_prefix("$request.querystring.")?;
        let raw = req.uri.query().unwrap_or("");
        let vals: Vec<String> = crate::events::query_pairs(raw)
            .into_iter()
            .filter(|(k, _)| k == q)
            .map(|(_, v)| v)
            .collect();
        vals.join(",")
    };
    (!v.trim().is_empty()).then_some(v)
}

/// Puts what was granted into the event, where each payload format carries it.
pub fn attach(event: &mut Value, payload: PayloadFormat, granted: &Granted) {
    let authorizer = match (payload, granted) {
        (PayloadFormat::V2, Granted::Jwt { claims, scopes }) => {
            json!({ "jwt": { "claims": claims, "scopes": scopes } })
        }
        (PayloadFormat::V1, Granted::Jwt { claims, scopes }) => {
            json!({ "claims": claims, "scopes": scopes })
        }
        (PayloadFormat::V2, Granted::Lambda { context, .. }) => json!({ "lambda": context }),
        (PayloadFormat::V1, Granted::Lambda { principal, context }) => {
            let mut m = context.clone();
            m.insert("principalId".into(), json!(principal));
            m.insert("integrationLatency".into(), json!(0));
            Value::Object(m)
        }
    };
    event["requestContext"]["authorizer"] = authorizer;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn identities_from_headers_and_query() {
        let p = parts("/a?token=t1&x=2", &[("authorization", "Bearer abc")]);
        assert_eq!(
            identity("$request.header.Authorization", &p).as_deref(),
            Some("Bearer abc")
        );
        assert_eq!(
            identity("$request.querystring.token", &p).as_deref(),
            Some("t1")
        );
        assert_eq!(identity("$request.header.X-Missing", &p), None);
        let p = parts("/a", &[("authorization", "  ")]);
        assert_eq!(identity("$request.header.Authorization", &p), None);
    }

    #[test]
    fn refusals_answer_as_api_gateway() {
        let r = crate::error::GatewayError::Auth(Refusal::Unauthorized(Some(
            "the token has expired".into(),
        )))
        .respond(crate::error::Exposure(false), "r", None);
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer scope=\"\" error=\"invalid_token\" error_description=\"the token has expired\""
        );
        let r = crate::error::GatewayError::Auth(Refusal::Forbidden(Some(vec!["read".into()])))
            .respond(crate::error::Exposure(false), "r", None);
        assert_eq!(r.status(), 403);
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope"));
    }
}
