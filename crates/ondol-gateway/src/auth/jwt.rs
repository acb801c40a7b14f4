//! JWT authorizers as HTTP API runs them: a bearer token signed by a key of the
//! issuer's JWKS with an asymmetric algorithm (never `none` or HMAC: the keys are
//! public), unexpired, of the issuer, for one of the audiences (`aud`, else
//! `client_id`), carrying every scope the route requires (`scope` or `scp`).

use jsonwebtoken::jwk::AlgorithmParameters;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ondol_core::manifest::JwtAuthorizer;
use serde_json::{Map, Value};

use super::jwks::{Jwks, KeyError};
use super::{identity, Asked, Granted, Refusal};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_S: u64 = 5;

/// Algorithms a public key can verify.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn invalid(why: &str) -> Refusal {
    Refusal::Unauthorized(Some(why.to_string()))
}

/// Checks the request's token; its claims and scopes when it passes.
pub async fn check(
    jwks: &Jwks,
    a: &JwtAuthorizer,
    required: &[String],
    asked: &Asked<'_>,
) -> Result<Granted, Refusal> {
    let raw = identity(&a.identity_source, asked.req).ok_or(Refusal::Unauthorized(None))?;
    let token = strip_bearer(&raw);
    // `none` is no variant of `Algorithm`: such a header fails to parse here.
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is not a valid JWT"))?;
    if !ASYMMETRIC.contains(&header.alg) {
        return Err(invalid("the token's signing algorithm is not allowed"));
    }
    let key = key_for(jwks, a, &header).await?;
    let mut v = Validation::new(header.alg);
    v.leeway = LEEWAY_S;
    v.validate_nbf = true;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iss"]);
    v.set_issuer(&[a.issuer.as_str()]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        invalid(match e.kind() {
            K::ExpiredSignature => "the token has expired",
            K::ImmatureSignature => "the token is not valid yet",
            K::InvalidIssuer => "the token does not have a valid issuer",
            K::InvalidSignature => "the token's signature is invalid",
            K::MissingRequiredClaim(_) => "the token lacks a required claim (exp, iss)",
            _ => "the token is not valid",
        })
    })?;
    let claims = data.claims;
    if !audience_ok(&claims, &a.audience) {
        return Err(invalid("the token does not have a valid audience"));
    }
    let scopes = scopes(&claims);
    if !required
        .iter()
        .all(|r| scopes.iter().flatten().any(|s| s == r))
    {
        return Err(Refusal::Forbidden(Some(required.to_vec())));
    }
    Ok(Granted::Jwt {
        claims: stringified(claims),
        scopes,
    })
}

/// The issuer's key for this token's header: by `kid`, never an HMAC (`oct`)
/// key, and of the token's algorithm when the key names one.
async fn key_for(
    jwks: &Jwks,
    a: &JwtAuthorizer,
    header: &jsonwebtoken::Header,
) -> Result<DecodingKey, Refusal> {
    let jwk = jwks
        .key(a, header.kid.as_deref())
        .await
        .map_err(|e| match e {
            KeyError::Unavailable => invalid("the issuer's signing keys could not be fetched"),
            KeyError::NoKey => invalid("the token's signing key is unknown"),
        })?;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return Err(invalid("the token's signing key is unknown"));
    }
    if jwk
        .common
        .key_algorithm
        .is_some_and(|k| k.to_string() != format!("{:?}", header.alg))
    {
        return Err(invalid("the token's algorithm does not match its key"));
    }
    DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the token's signing key is unknown"))
}

/// `Bearer <token>` → `<token>` (the scheme in any case); anything else as is.
fn strip_bearer(raw: &str) -> &str {
    let t = raw.trim();
    match t.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => t[7..].trim(),
        _ => t,
    }
}

/// `aud` (a string or a list) must name an accepted audience; only without
/// `aud` is `client_id` checked, as API Gateway does.
fn audience_ok(claims: &Map<String, Value>, accepted: &[String]) -> bool {
    let ok = |v: &Value| v.as_str().is_some_and(|s| accepted.iter().any(|a| a == s));
    match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(ok),
        Some(v) => ok(v),
        None => claims.get("client_id").is_some_and(ok),
    }
}

/// `scope` (space-separated) or `scp` (a list or a string); `None` without either.
fn scopes(claims: &Map<String, Value>) -> Option<Vec<String>> {
    let split = |s: &str| s.split_whitespace().map(str::to_string).collect();
    match claims.get("scope").or_else(|| claims.get("scp"))? {
        Value::String(s) => Some(split(s)),
        Value::Array(l) => Some(
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

/// Claims as HTTP API passes them: strings, lists as `[a b]`, numbers as text.
fn stringified(claims: Map<String, Value>) -> Map<String, Value> {
    claims
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Array(l) => format!(
                    "[{}]",
                    l.iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (k, Value::String(s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn audience_then_client_id() {
        let acc = vec!["app".to_string()];
        assert!(audience_ok(&m(json!({"aud": "app"})), &acc));
        assert!(audience_ok(&m(json!({"aud": ["x", "app"]})), &acc));
        assert!(audience_ok(&m(json!({"client_id": "app"})), &acc));
        // aud wins over client_id when both are there.
        assert!(!audience_ok(
            &m(json!({"aud": "x", "client_id": "app"})),
            &acc
        ));
        assert!(!audience_ok(&m(json!({})), &acc));
    }

    #[test]
    fn scopes_and_bearer() {
        assert_eq!(
            scopes(&m(json!({"scope": "read write"}))),
            Some(vec!["read".into(), "write".into()])
        );
        assert_eq!(scopes(&m(json!({"scp": ["a"]}))), Some(vec!["a".into()]));
        assert_eq!(scopes(&m(json!({}))), None);
        assert_eq!(strip_bearer("bearer abc"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        let c = stringified(m(json!({"n": 3, "l": ["a", "b"]})));
        assert_eq!(c["n"], "3");
        assert_eq!(c["l"], "[a b]");
    }
}
