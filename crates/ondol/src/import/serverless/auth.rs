//! Serverless authorizers and API keys: `provider.httpApi.authorizers` (jwt and
//! request), an event's `authorizer` (httpApi: a name and scopes; http: a
//! function of the service), `private: true` and `provider.apiGateway`'s keys and
//! usage plans. What cannot be mapped fails the import (in `errors`).

use serde_norway::Value;
use toml_edit::{value, Table};

use super::vars::{join, scalar_text};
use super::Out;
use crate::import::auth::{period, protect, rest_identity, Def, Kind, Plan};

/// A YAML value as a list of strings (`a` or `[a, b]`).
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s.iter().map(scalar_text).collect(),
        Some(x) => vec![scalar_text(x)],
        None => Vec::new(),
    }
}

impl Out {
    /// `provider.httpApi.authorizers`: named for the httpApi events.
    pub(super) fn http_api_authorizers(&mut self, key: &str, v: &Value) {
        for (name, a) in v.as_mapping().into_iter().flatten() {
            let name = scalar_text(name);
            let at = join(key, &name);
            match http_api_authorizer(&at, a, &mut self.report) {
                Ok(def) => {
                    let what = match &def.kind {
                        Kind::Jwt { .. } => "a JWT authorizer",
                        Kind::Lambda { .. } => "a Lambda authorizer",
                    };
                    self.report
                        .mapped(&at, format!("[authorizers.{name}], {what}"));
                    self.http_api_auth.insert(name, Ok((def, at)));
                }
                Err(why) => {
                    // Fatal only once a route uses it.
                    self.report.unsupported(&at, &why);
                    self.http_api_auth.insert(name, Err(format!("{at}: {why}")));
                }
            }
        }
    }

    /// An event's `authorizer` and `private` on the route `t`. `rest`: an `http` event.
    pub(super) fn route_auth(&mut self, key: &str, body: &Value, t: &mut Table, rest: bool) {
        let Some(m) = body.as_mapping() else { return };
        if let Some(a) = m.get("authorizer") {
            let at = join(key, "authorizer");
            let r = if rest {
                self.rest_authorizer(&at, a)
            } else {
                self.http_api_route_auth(a)
            };
            match r {
                Ok((name, scopes)) => {
                    protect(t, &name, &scopes);
                    self.report.mapped(at, format!("auth = \"{name}\""));
                }
                Err(why) => self.errors.push(format!("{at}: {why}")),
            }
        }
        if rest
            && m.get("private")
                .is_some_and(|p| matches!(p, Value::Bool(true)))
        {
            t["api_key_required"] = value(true);
            self.report.mapped(
                join(key, "private"),
                "api_key_required = true (make keys with `ondol keys create`)",
            );
        }
    }

    /// httpApi `authorizer: {name, scopes}` (or a bare name) naming a provider's one.
    fn http_api_route_auth(&mut self, a: &Value) -> Result<(String, Vec<String>), String> {
        let (name, scopes) = match a {
            Value::Mapping(m) if m.contains_key("name") => {
                (m.get("name").map(scalar_text).unwrap_or_default(), strings(m.get("scopes")))
            }
            Value::Mapping(m) if m.contains_key("id") => {
                return Err("an authorizer of another API (id) cannot be imported; define it under provider.httpApi.authorizers".into())
            }
            Value::Mapping(m) if m.get("type").is_some_and(|t| scalar_text(t) == "aws_iam") => {
                return Err("IAM authorization (SigV4) is not served by ondol".into())
            }
            Value::String(s) => (s.clone(), Vec::new()),
            _ => return Err("expected {name, scopes}".into()),
        };
        let (def, from) = match self.http_api_auth.get(&name).cloned() {
            Some(found) => found?,
            None => {
                return Err(format!(
                    "no provider.httpApi.authorizers.{name}; the route would be served open"
                ))
            }
        };
        if matches!(def.kind, Kind::Lambda { .. }) && !scopes.is_empty() {
            return Err("scopes are checked by JWT authorizers only".into());
        }
        self.auths.add(&name, def, &from)?;
        Ok((name, scopes))
    }

    /// http `authorizer: fn` or `{name, resultTtlInSeconds, identitySource, type}`.
    fn rest_authorizer(&mut self, at: &str, a: &Value) -> Result<(String, Vec<String>), String> {
        let empty = serde_norway::Mapping::new();
        let (name, m) = match a {
            Value::String(s) => (s.clone(), &empty),
            Value::Mapping(m) => {
                let ty = m
                    .get("type")
                    .map(scalar_text)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if m.contains_key("arn") || m.contains_key("authorizerId") {
                    return Err("an authorizer outside this service (arn) cannot be imported: write [authorizers.NAME] for it".into());
                }
                if !matches!(ty.as_str(), "" | "token" | "request") {
                    return Err(format!("{ty} authorization is not imported (ondol has jwt and lambda authorizers): write [authorizers.NAME]"));
                }
                (m.get("name").map(scalar_text).unwrap_or_default(), m)
            }
            _ => return Err("expected a function name or {name, ...}".into()),
        };
        if name.is_empty() || name.starts_with("arn:") {
            return Err("expected the name of a function of this service".into());
        }
        let request = m
            .get("type")
            .is_some_and(|t| scalar_text(t).eq_ignore_ascii_case("request"));
        let identity: Vec<String> = match m.get("identitySource") {
            Some(v) => scalar_text(v)
                .split(',')
                .map(rest_identity)
                .collect::<Result<_, _>>()?,
            None => vec!["$request.header.Authorization".into()],
        };
        let ttl = m
            .get("resultTtlInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(300);
        let def = Def {
            kind: Kind::Lambda {
                function: name.clone(),
                ttl,
            },
            identity,
        };
        self.auths.add(&name, def, at)?;
        if request {
            self.report.unsupported(
                join(at, "type"),
                "payload 1.0 routes send authorizers REST API's TOKEN event ({type, authorizationToken, methodArn}), not the REQUEST one",
            );
        }
        Ok((name, Vec::new()))
    }

    /// `provider.apiGateway`: `apiKeys` (reported: made with `ondol keys create`)
    /// and `usagePlan` (one plan or a list of named ones).
    pub(super) fn api_gateway(&mut self, key: &str, v: &Value) {
        for (k, x) in v.as_mapping().into_iter().flatten() {
            let k = scalar_text(k);
            let at = join(key, &k);
            match k.as_str() {
                "apiKeys" => self.report.mapped(
                    at,
                    "nothing: make each key with `ondol keys create NAME --app APP [--plan PLAN]` (values are never imported)",
                ),
                "usagePlan" => self.usage_plans(&at, x),
                _ => self.report.unsupported(at, "not mapped to ondol"),
            }
        }
    }

    fn usage_plans(&mut self, at: &str, v: &Value) {
        let plans: Vec<(String, &Value)> = match v {
            Value::Sequence(s) => s
                .iter()
                .filter_map(|p| p.as_mapping()?.iter().next())
                .map(|(n, p)| (scalar_text(n), p))
                .collect(),
            p => vec![("default".into(), p)],
        };
        for (name, p) in plans {
            match plan(p) {
                Ok(plan) => {
                    self.auths.add_plan(&name, plan, at);
                    self.report.mapped(
                        at,
                        format!("[usage_plans.{name}] (use `ondol keys create --plan {name}`)"),
                    );
                }
                Err(why) => self.report.unsupported(at, why),
            }
        }
    }
}

fn plan(p: &Value) -> Result<Plan, String> {
    let mut plan = Plan::default();
    if let Some(q) = p.get("quota") {
        let limit = q
            .get("limit")
            .and_then(Value::as_u64)
            .ok_or("quota: expected a limit")?;
        let per = q
            .get("period")
            .map(scalar_text)
            .ok_or("quota: expected a period")?;
        plan.quota = Some((limit, period(&per)?));
    }
    if let Some(t) = p.get("throttle") {
        plan.rate = t.get("rateLimit").and_then(Value::as_f64);
        plan.burst = t.get("burstLimit").and_then(Value::as_u64);
    }
    Ok(plan)
}

/// One of `provider.httpApi.authorizers`.
fn http_api_authorizer(
    at: &str,
    a: &Value,
    report: &mut crate::import::Report,
) -> Result<Def, String> {
    let get = |k: &str| a.get(k).map(scalar_text);
    let ty = get("type")
        .unwrap_or_else(|| "jwt".into())
        .to_ascii_lowercase();
    let identity = strings(a.get("identitySource"));
    match ty.as_str() {
        "jwt" => {
            let issuer = get("issuerUrl").ok_or("expected issuerUrl")?;
            let audience = strings(a.get("audience"));
            Ok(Def {
                kind: Kind::Jwt { issuer, audience },
                identity,
            })
        }
        "request" => {
            let function = get("functionName").ok_or(
                "expected functionName (a function of this service); functionArn is not imported",
            )?;
            let ttl = a
                .get("resultTtlInSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if get("payloadVersion").is_some_and(|v| v == "1.0") {
                report.unsupported(
                    join(at, "payloadVersion"),
                    "the authorizer gets HTTP API's 2.0 REQUEST event on httpApi routes",
                );
            }
            Ok(Def {
                kind: Kind::Lambda { function, ttl },
                identity,
            })
        }
        other => Err(format!("type {other}: expected jwt or request")),
    }
}
