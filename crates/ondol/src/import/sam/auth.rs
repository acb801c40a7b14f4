//! The `Auth` of SAM APIs and of their events: HttpApi JWT and Lambda authorizers,
//! REST (`Api`) Lambda TOKEN/REQUEST authorizers, `DefaultAuthorizer`,
//! `ApiKeyRequired` and `UsagePlan`, as `[authorizers]`, a route's `auth`/`scopes`/
//! `api_key_required` and `[usage_plans]`. An authorizer a route uses that cannot
//! be mapped fails the import: the route must not be served open.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use toml_edit::{value, Table};

use super::intrinsics::Ctx;
use super::Out;
use crate::import::auth::{period, protect, Def, Kind, Plan};
use crate::import::Report;

/// The implicit APIs events use without an `ApiId` / `RestApiId`.
pub const IMPLICIT_HTTP: &str = "ServerlessHttpApi";
pub const IMPLICIT_REST: &str = "ServerlessRestApi";

/// One API's `Auth`.
#[derive(Default, Clone)]
pub struct ApiAuth {
    /// By SAM name: the definition (with its default scopes), or why it is not mapped.
    authorizers: BTreeMap<String, Result<(Def, Vec<String>), String>>,
    default: Option<String>,
    api_key_required: bool,
    at: String,
}

/// Every API's `Auth`, by logical id (the implicit ones take `Globals`).
pub fn collect(
    ctx: &Ctx,
    top: &Map<String, Value>,
    out: &mut Out,
    report: &mut Report,
) -> BTreeMap<String, ApiAuth> {
    let mut apis = BTreeMap::new();
    let globals = top.get("Globals");
    let res = top.get("Resources").and_then(Value::as_object);
    let mut all: Vec<(String, bool, Option<&Value>)> = vec![
        (IMPLICIT_HTTP.into(), false, None),
        (IMPLICIT_REST.into(), true, None),
    ];
    for (id, r) in res.into_iter().flatten() {
        match r.get("Type").and_then(Value::as_str) {
            Some("AWS::Serverless::HttpApi") => all.push((id.clone(), false, Some(r))),
            Some("AWS::Serverless::Api") => all.push((id.clone(), true, Some(r))),
            _ => {}
        }
    }
    for (id, rest, r) in all {
        let g = if rest { "Api" } else { "HttpApi" };
        let (at, auth) = match r.and_then(|r| r.pointer("/Properties/Auth")) {
            Some(a) => (format!("Resources.{id}.Properties.Auth"), a),
            None => match globals.and_then(|g0| g0.get(g)).and_then(|x| x.get("Auth")) {
                Some(a) => (format!("Globals.{g}.Auth"), a),
                None => continue,
            },
        };
        let auth = match ctx.eval(auth) {
            Ok(Some(a)) => a,
            Ok(None) => continue,
            Err(why) => {
                report.unsupported(&at, &why);
                // Every route of this API is refused: its protection is unknown.
                let name = "(its Auth)".to_string();
                let a = ApiAuth {
                    authorizers: BTreeMap::from([(name.clone(), Err(why))]),
                    default: Some(name),
                    at,
                    ..Default::default()
                };
                apis.insert(id, a);
                continue;
            }
        };
        let a = api_auth(ctx, &id, &at, rest, &auth, out, report);
        apis.insert(id, a);
    }
    apis
}

fn api_auth(
    ctx: &Ctx,
    id: &str,
    at: &str,
    rest: bool,
    auth: &Value,
    out: &mut Out,
    report: &mut Report,
) -> ApiAuth {
    let mut a = ApiAuth {
        at: at.into(),
        ..Default::default()
    };
    for (k, v) in auth.as_object().into_iter().flatten() {
        let key = format!("{at}.{k}");
        match k.as_str() {
            "Authorizers" => {
                for (name, d) in v.as_object().into_iter().flatten() {
                    let akey = format!("{key}.{name}");
                    let r = authorizer(ctx, &akey, rest, d, report);
                    match &r {
                        Ok(_) => report.mapped(&akey, format!("[authorizers.{name}]")),
                        Err(why) => report.unsupported(&akey, why),
                    }
                    a.authorizers.insert(name.clone(), r);
                }
            }
            "DefaultAuthorizer" => {
                a.default = v.as_str().map(String::from);
                report.mapped(key, "auth of each of its routes");
            }
            "ApiKeyRequired" => {
                a.api_key_required = v.as_bool().unwrap_or(false);
                report.mapped(
                    key,
                    "api_key_required of each of its routes (make keys with `ondol keys create`)",
                );
            }
            "UsagePlan" => usage_plan(id, &key, v, out, report),
            "AddDefaultAuthorizerToCorsPreflight" | "AddApiKeyRequiredToCorsPreflight" => {
                report.mapped(key, "preflights are answered before any authorizer")
            }
            _ => report.unsupported(key, "not an Auth setting ondol has"),
        }
    }
    a
}

fn usage_plan(id: &str, key: &str, v: &Value, out: &mut Out, report: &mut Report) {
    let name = match v.get("CreateUsagePlan").and_then(Value::as_str) {
        Some("PER_API") => id.to_string(),
        Some("SHARED") => "shared".to_string(),
        _ => {
            report.mapped(key, "nothing: CreateUsagePlan is NONE");
            return;
        }
    };
    let mut plan = Plan::default();
    if let Some(q) = v.get("Quota") {
        let per = q.get("Period").and_then(Value::as_str).unwrap_or("");
        match (q.get("Limit").and_then(Value::as_u64), period(per)) {
            (Some(l), Ok(p)) => plan.quota = Some((l, p)),
            (_, Err(why)) => report.unsupported(format!("{key}.Quota"), why),
            (None, _) => report.unsupported(format!("{key}.Quota"), "expected a Limit"),
        }
    }
    if let Some(t) = v.get("Throttle") {
        plan.rate = t.get("RateLimit").and_then(Value::as_f64);
        plan.burst = t.get("BurstLimit").and_then(Value::as_u64);
    }
    out.auths.add_plan(&name, plan, key);
    report.mapped(
        key,
        format!(
            "[usage_plans.{name}]; make keys with `ondol keys create NAME --app APP --plan {name}`"
        ),
    );
}

/// One entry of `Auth.Authorizers`.
fn authorizer(
    ctx: &Ctx,
    at: &str,
    rest: bool,
    d: &Value,
    report: &mut Report,
) -> Result<(Def, Vec<String>), String> {
    let scopes = strings(d.get("AuthorizationScopes"));
    if let Some(j) = d.get("JwtConfiguration") {
        let issuer = j
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or("JwtConfiguration: expected issuer")?;
        let audience = strings(j.get("audience"));
        let identity = strings(d.get("IdentitySource"));
        let kind = Kind::Jwt {
            issuer: issuer.into(),
            audience,
        };
        return Ok((Def { kind, identity }, scopes));
    }
    if d.get("UserPoolArn").is_some() {
        return Err("a Cognito user pool authorizer is not imported: write [authorizers.NAME] type = \"jwt\" with the pool's issuer".into());
    }
    lambda(ctx, at, rest, d, report).map(|def| (def, Vec::new()))
}

/// A Lambda authorizer: a function of the template, its identity and cache.
fn lambda(ctx: &Ctx, at: &str, rest: bool, d: &Value, report: &mut Report) -> Result<Def, String> {
    let arn = d
        .get("FunctionArn")
        .and_then(Value::as_str)
        .ok_or("expected JwtConfiguration or FunctionArn")?;
    let function = arn
        .rsplit_once(":function:")
        .and_then(|(_, f)| f.strip_prefix(&format!("{}-", ctx.app)))
        .filter(|f| {
            ctx.resources
                .get(*f)
                .is_some_and(|t| t == "AWS::Serverless::Function")
        })
        .ok_or("FunctionArn: expected a function of this template (!GetAtt Fn.Arn)")?
        .to_string();
    let id = d.get("Identity");
    let get = |k: &str| id.and_then(|i| i.get(k));
    let mut identity: Vec<String> = strings(get("Headers"))
        .iter()
        .map(|h| format!("$request.header.{h}"))
        .collect();
    identity.extend(
        strings(get("QueryStrings"))
            .iter()
            .map(|q| format!("$request.querystring.{q}")),
    );
    if let Some(h) = get("Header").and_then(Value::as_str) {
        identity.insert(0, format!("$request.header.{h}"));
    }
    if get("Context").is_some() || get("StageVariables").is_some() {
        return Err("Identity: ondol reads headers and query strings only".into());
    }
    let ttl = get("ReauthorizeEvery")
        .or(d.get("AuthorizerResultTtlInSeconds"))
        .and_then(Value::as_u64)
        .unwrap_or(if rest { 300 } else { 0 });
    if get("ValidationExpression").is_some() {
        report.unsupported(
            format!("{at}.Identity.ValidationExpression"),
            "every token reaches the authorizer function",
        );
    }
    let request = d.get("FunctionPayloadType").and_then(Value::as_str) == Some("REQUEST");
    if rest && request {
        report.unsupported(
            format!("{at}.FunctionPayloadType"),
            "payload 1.0 routes send authorizers REST API's TOKEN event, not the REQUEST one",
        );
    }
    if !rest
        && d.get("AuthorizerPayloadFormatVersion")
            .and_then(Value::as_str)
            == Some("1.0")
    {
        report.unsupported(
            format!("{at}.AuthorizerPayloadFormatVersion"),
            "the authorizer gets HTTP API's 2.0 REQUEST event",
        );
    }
    Ok(Def {
        kind: Kind::Lambda { function, ttl },
        identity,
    })
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The API an event belongs to: its `ApiId` / `RestApiId` (`!Ref Id`) or the implicit one.
pub fn api_of(props: &Map<String, Value>, rest: bool) -> String {
    let r = props.get(if rest { "RestApiId" } else { "ApiId" });
    match r {
        Some(Value::Object(m)) => m.get("Ref").and_then(Value::as_str).map(String::from),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
    .unwrap_or_else(|| (if rest { IMPLICIT_REST } else { IMPLICIT_HTTP }).into())
}

/// The route `t` of an event with `Auth` (evaluated) `auth` on the API `api`.
pub fn apply(
    api: Option<&ApiAuth>,
    auth: Option<&Value>,
    t: &mut Table,
    out: &mut Out,
) -> Result<(), String> {
    let get = |k: &str| auth.and_then(|a| a.get(k));
    let keyed = get("ApiKeyRequired").and_then(Value::as_bool);
    if keyed.unwrap_or(api.is_some_and(|a| a.api_key_required)) {
        t["api_key_required"] = value(true);
    }
    let name = match get("Authorizer").and_then(Value::as_str) {
        Some(n) => Some(n.to_string()),
        None => api.and_then(|a| a.default.clone()),
    };
    let Some(name) = name.filter(|n| n != "NONE") else {
        return Ok(());
    };
    if name == "AWS_IAM" {
        return Err("IAM authorization (SigV4) is not served by ondol".into());
    }
    let found = api.and_then(|a| a.authorizers.get(&name).map(|r| (r, &a.at)));
    let Some((r, at)) = found else {
        return Err(format!("no authorizer {name} on its API"));
    };
    let (def, default_scopes) = r
        .clone()
        .map_err(|why| format!("authorizer {name}: {why}"))?;
    let scopes = match get("AuthorizationScopes") {
        Some(s) => strings(Some(s)),
        None => default_scopes,
    };
    let scopes = if matches!(def.kind, Kind::Jwt { .. }) {
        scopes
    } else {
        Vec::new()
    };
    out.auths
        .add(&name, def, &format!("{at}.Authorizers.{name}"))?;
    protect(t, &name, &scopes);
    Ok(())
}
