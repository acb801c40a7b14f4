//! Lambda authorizers: a function of the app decides. A payload 2.0 route sends
//! it a REQUEST event (HTTP API's 2.0 authorizer payload), a 1.0 route a TOKEN
//! event (REST API's); it answers a simple response (`isAuthorized`) or an IAM
//! policy. Answers are cached for `ttl` by authorizer and identity values.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ondol_core::manifest::{LambdaAuthorizer, PayloadFormat};
use ondol_core::InvokeRequest;
use ondol_engine::{Engine, Run};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{identity, Asked, Granted, Refusal};
use crate::events;

/// Cached answers at most; past it, expired ones go, then all of them.
const MAX_CACHED: usize = 10_000;

#[derive(Clone)]
struct Decision {
    allow: bool,
    principal: Option<String>,
    context: Map<String, Value>,
}

/// Answers by authorizer and identity, with their expiry.
#[derive(Default)]
pub struct Cache(Mutex<HashMap<String, (Instant, Decision)>>);

impl Cache {
    fn get(&self, key: &str) -> Option<Decision> {
        let map = self.0.lock();
        map.get(key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, d)| d.clone())
    }

    fn put(&self, key: String, ttl: Duration, d: Decision) {
        let mut map = self.0.lock();
        if map.len() >= MAX_CACHED {
            let now = Instant::now();
            map.retain(|_, (until, _)| *until > now);
            if map.len() >= MAX_CACHED {
                map.clear();
            }
        }
        map.insert(key, (Instant::now() + ttl, d));
    }
}

/// Asks (or recalls) the authorizer function about this request.
pub async fn check(
    cache: &Cache,
    engine: &Engine,
    id: &str,
    a: &LambdaAuthorizer,
    asked: &Asked<'_>,
) -> Result<Granted, Refusal> {
    let mut values = Vec::new();
    for s in &a.identity_source {
        // A missing identity is refused without calling the function.
        values.push(identity(s, asked.req).ok_or(Refusal::Unauthorized(None))?);
    }
    // The authorizer's id and the identity values, each length-prefixed so no
    // two different identities can make the same key.
    let key = std::iter::once(id)
        .chain(values.iter().map(String::as_str))
        .map(|v| format!("{}:{v}", v.len()))
        .collect::<String>();
    let d = match (a.ttl_s > 0).then(|| cache.get(&key)).flatten() {
        Some(d) => d,
        None => {
            let d = ask(engine, a, asked, &values).await?;
            if a.ttl_s > 0 {
                cache.put(key, Duration::from_secs(a.ttl_s), d.clone());
            }
            d
        }
    };
    if !d.allow {
        return Err(Refusal::Forbidden(None));
    }
    Ok(Granted::Lambda {
        principal: d.principal,
        context: d.context,
    })
}

/// `arn:aws:execute-api:<region>:<account>:ondol/<stage>/<METHOD><path>`.
fn route_arn(engine: &Engine, asked: &Asked<'_>) -> String {
    let arn = engine.arn();
    format!(
        "arn:aws:execute-api:{}:{}:ondol/{}/{}{}",
        arn.region, arn.account, asked.stage, asked.req.method, asked.path
    )
}

fn event(engine: &Engine, asked: &Asked<'_>, values: &[String]) -> Value {
    let arn = route_arn(engine, asked);
    if asked.route.payload == PayloadFormat::V1 {
        return json!({ "type": "TOKEN", "authorizationToken": values[0], "methodArn": arn });
    }
    let info = events::RequestInfo {
        method: asked.req.method.as_str(),
        raw_path: asked.path,
        full_path: asked.req.uri.path(),
        stage: asked.stage,
        variables: None,
        raw_query: asked.req.uri.query().unwrap_or(""),
        headers: &asked.req.headers,
        body: &[],
        route_key: &asked.route.key,
        resource: asked.route.path.as_deref(),
        params: asked.params,
        request_id: &uuid::Uuid::new_v4().to_string(),
        source_ip: asked.peer.ip().to_string(),
        now: chrono::Utc::now(),
        account: &engine.arn().account,
        protocol: events::protocol(asked.req.version),
    };
    let mut ev = events::v2(&info);
    if let Some(o) = ev.as_object_mut() {
        o.remove("body");
        o.remove("isBase64Encoded");
        o.insert("type".into(), json!("REQUEST"));
        o.insert("routeArn".into(), json!(arn));
        o.insert("identitySource".into(), json!(values));
    }
    ev
}

async fn ask(
    engine: &Engine,
    a: &LambdaAuthorizer,
    asked: &Asked<'_>,
    values: &[String],
) -> Result<Decision, Refusal> {
    let name = &a.function;
    let q = a.qualifier.as_deref();
    let Some(target) = engine.resolve(name, q) else {
        tracing::error!(function = %name, "authorizer function does not exist");
        return Err(Refusal::Failed);
    };
    let req = InvokeRequest {
        payload: event(engine, asked, values).to_string().into(),
        invoked_arn: engine.arn().qualified(name, q),
        ..Default::default()
    };
    let out = match engine.invoke_to(&target, req).await {
        Ok(Run::Done(o)) => o.result,
        Ok(Run::Streaming(_)) | Err(_) => {
            tracing::error!(function = %name, "authorizer could not be invoked");
            return Err(Refusal::Failed);
        }
    };
    match out {
        Ok(body) => decide(&body, &route_arn(engine, asked)).map_err(|why| {
            tracing::error!(function = %name, %why, "malformed authorizer response");
            Refusal::Failed
        }),
        // REST API's convention: a TOKEN authorizer failing with "Unauthorized" means 401.
        Err(e) if is_unauthorized(&e.body) => Err(Refusal::Unauthorized(None)),
        Err(e) => {
            tracing::error!(function = %name, error_type = %e.error_type, error = %String::from_utf8_lossy(&e.body), "authorizer failed");
            Err(Refusal::Failed)
        }
    }
}

fn is_unauthorized(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .is_some_and(|v| v["errorMessage"] == "Unauthorized")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    is_authorized: Option<bool>,
    principal_id: Option<String>,
    policy_document: Option<Policy>,
    #[serde(default)]
    context: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Policy {
    statement: Vec<Statement>,
}

/// One string or a list, as IAM policies allow.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn any(&self, f: impl Fn(&str) -> bool) -> bool {
        match self {
            Self::One(s) => f(s),
            Self::Many(l) => l.iter().any(|s| f(s)),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Statement {
    effect: String,
    action: OneOrMany,
    resource: OneOrMany,
}

/// A simple response or an IAM policy → allowed or not, with the context.
fn decide(body: &[u8], arn: &str) -> Result<Decision, String> {
    let a: Answer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let allow = match (a.is_authorized, &a.policy_document) {
        (Some(b), _) => b,
        (None, Some(p)) => {
            let applies = |s: &&Statement| {
                s.action.any(|x| glob(x, "execute-api:Invoke") || x == "*")
                    && s.resource.any(|r| glob(r, arn))
            };
            let matched: Vec<&Statement> = p.statement.iter().filter(applies).collect();
            // An explicit Deny wins over any Allow.
            !matched.iter().any(|s| s.effect == "Deny")
                && matched.iter().any(|s| s.effect == "Allow")
        }
        (None, None) => return Err("expected isAuthorized or a policyDocument".into()),
    };
    Ok(Decision {
        allow,
        principal: a.principal_id,
        context: a.context,
    })
}

/// IAM's wildcards: `*` any run of characters, `?` one character.
fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:000000000000:ondol/$default/GET/items";

    fn policy(effect: &str, resource: &str) -> Vec<u8> {
        json!({"principalId": "u1", "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]},
            "context": {"tier": "gold"}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn simple_and_policy_answers() {
        let d = decide(br#"{"isAuthorized": true, "context": {"u": 1}}"#, ARN).unwrap();
        assert!(d.allow && d.context["u"] == 1);
        assert!(!decide(br#"{"isAuthorized": false}"#, ARN).unwrap().allow);
        assert!(
            decide(
                &policy("Allow", "arn:aws:execute-api:*:*:ondol/*/GET/*"),
                ARN
            )
            .unwrap()
            .allow
        );
        assert!(
            !decide(&policy("Allow", "arn:aws:execute-api:*:*:other/*"), ARN)
                .unwrap()
                .allow
        );
        assert!(!decide(&policy("Deny", "*"), ARN).unwrap().allow);
        assert!(decide(b"{}", ARN).is_err());
        assert!(decide(b"not json", ARN).is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a*d", "abc"));
    }
}
