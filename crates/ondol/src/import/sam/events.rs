//! A SAM function's `Events`: `Api` (REST, payload 1.0) and `HttpApi` (payload 2.0)
//! become `[[routes]]`, `Schedule` and `ScheduleV2` become `[[schedules]]`; every
//! other source is reported.

use serde_json::{Map, Value};
use toml_edit::{value, Table};

use super::auth;
use super::intrinsics::Ctx;
use super::{json_to_toml, Out};
use crate::import::Report;

/// One function's events, added to `out`. `web` leaves out the payload (a web-mode
/// function gets the HTTP request itself).
pub fn map_events(
    ctx: &Ctx,
    id: &str,
    events: &Value,
    web: bool,
    out: &mut Out,
    report: &mut Report,
) {
    let at = format!("Resources.{id}.Properties.Events");
    let Some(events) = events.as_object() else {
        report.unsupported(at, "expected a map of events");
        return;
    };
    for (name, ev) in events {
        let key = format!("{at}.{name}");
        let ty = ev.get("Type").and_then(Value::as_str).unwrap_or("");
        let empty = Map::new();
        let props = ev
            .get("Properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let ev = Event {
            ctx,
            id,
            name,
            key: &key,
            props,
        };
        let r = match ty {
            "Api" => ev.route("1.0", web, out, report),
            "HttpApi" => ev.route("2.0", web, out, report),
            "Schedule" | "ScheduleV2" => ev.schedule(ty == "ScheduleV2", out, report),
            other => Err(format!(
                "ondol has no {other} event source (it serves HTTP routes and schedules; invoke the function with the Lambda API instead)"
            )),
        };
        if let Err(why) = r {
            report.unsupported(key, why);
        }
    }
}

struct Event<'a> {
    ctx: &'a Ctx,
    id: &'a str,
    name: &'a str,
    key: &'a str,
    props: &'a Map<String, Value>,
}

impl Event<'_> {
    fn string(&self, k: &str) -> Result<Option<String>, String> {
        self.props.get(k).map(|v| self.ctx.string(v)).transpose()
    }

    fn route(
        &self,
        payload: &str,
        web: bool,
        out: &mut Out,
        report: &mut Report,
    ) -> Result<(), String> {
        let path = self.string("Path")?;
        let method = self.string("Method")?.map(|m| m.to_uppercase());
        let route = match (&method, &path) {
            (None, None) if payload == "2.0" => "$default".to_string(),
            (m, Some(p)) => format!(
                "{} {p}",
                m.as_deref()
                    .filter(|m| *m != "ANY" && *m != "X-AMAZON-APIGATEWAY-ANY-METHOD")
                    .unwrap_or("ANY")
            ),
            (_, None) => return Err("expected a Path".into()),
        };
        let mut t = Table::new();
        t["route"] = value(&route);
        t["function"] = value(self.id);
        let rest = payload == "1.0";
        let mut payload = payload.to_string();
        self.route_settings(&mut t, &mut payload, report)?;
        let api = out.apis.get(&auth::api_of(self.props, rest)).cloned();
        let ev_auth = match self.props.get("Auth") {
            Some(a) => self.ctx.eval(a)?,
            None => None,
        };
        if let Err(why) = auth::apply(api.as_ref(), ev_auth.as_ref(), &mut t, out) {
            out.errors.push(format!("{}: {why}", self.key));
        }
        if !web {
            t["payload"] = value(&payload);
        }
        let what = if payload == "1.0" {
            "REST API"
        } else {
            "HTTP API"
        };
        t.decor_mut()
            .set_prefix(format!("\n# {} ({what} event)\n", self.key));
        report.mapped(
            self.key,
            format!(
                "[[routes]] route = \"{route}\"{}",
                if web {
                    "".into()
                } else {
                    format!(", payload {payload}")
                }
            ),
        );
        out.routes.push(t);
        Ok(())
    }

    /// The event's other properties: the payload version, a timeout, or reported.
    fn route_settings(
        &self,
        t: &mut Table,
        payload: &mut String,
        report: &mut Report,
    ) -> Result<(), String> {
        for (k, v) in self.props {
            let pk = format!("{}.Properties.{k}", self.key);
            match k.as_str() {
                "Path" | "Method" => {}
                "PayloadFormatVersion" if *payload == "2.0" => {
                    *payload = self.ctx.string(v)?;
                    report.mapped(pk, format!("payload = \"{payload}\""));
                }
                "TimeoutInMillis" => {
                    let ms = self.ctx.string(v)?;
                    t["timeout"] = value(format!("{ms}ms"));
                    report.mapped(pk, format!("timeout = \"{ms}ms\""));
                }
                "RestApiId" | "ApiId" => {
                    report.mapped(pk, "served at the one front door, with its API's Auth")
                }
                "Auth" => report.mapped(pk, "auth, scopes and api_key_required of the route"),
                _ => report.unsupported(pk, "not an API Gateway setting ondol has"),
            }
        }
        Ok(())
    }

    fn schedule(&self, v2: bool, out: &mut Out, report: &mut Report) -> Result<(), String> {
        let expr_key = if v2 { "ScheduleExpression" } else { "Schedule" };
        let expr = self
            .string(expr_key)?
            .ok_or_else(|| format!("expected {expr_key}"))?;
        let name = self
            .string("Name")?
            .unwrap_or_else(|| format!("{}-{}", self.id, self.name));
        let mut t = Table::new();
        t["name"] = value(&name);
        t["function"] = value(self.id);
        t["expression"] = value(&expr);
        let (enabled, comment) = self.schedule_settings(&mut t, report)?;
        if !enabled {
            return Ok(());
        }
        let comment = comment.replace('\n', " ");
        t.decor_mut()
            .set_prefix(format!("\n# {}{comment}\n", self.key));
        report.mapped(self.key, format!("[[schedules]] {name}: {expr}"));
        out.schedules.push(t);
        Ok(())
    }

    /// The schedule's other properties: `(enabled, a comment)`.
    fn schedule_settings(
        &self,
        t: &mut Table,
        report: &mut Report,
    ) -> Result<(bool, String), String> {
        let mut enabled = true;
        let mut comment = String::new();
        for (k, v) in self.props {
            let pk = format!("{}.Properties.{k}", self.key);
            match k.as_str() {
                "Schedule" | "ScheduleExpression" | "Name" => {}
                "Input" => {
                    t["input"] = value(self.input(v)?);
                    report.mapped(pk, "input (the event sent)");
                }
                "Enabled" => {
                    enabled = self.ctx.eval(v)?.and_then(|b| b.as_bool()).unwrap_or(true);
                    report.mapped(
                        pk,
                        if enabled {
                            "scheduled"
                        } else {
                            "not scheduled (disabled)"
                        },
                    );
                }
                "State" => {
                    enabled = self.ctx.string(v)? != "DISABLED";
                    report.mapped(
                        pk,
                        if enabled {
                            "scheduled"
                        } else {
                            "not scheduled (DISABLED)"
                        },
                    );
                }
                "ScheduleExpressionTimezone" => {
                    let tz = self.ctx.string(v)?;
                    t["timezone"] = value(&tz);
                    report.mapped(pk, format!("timezone = \"{tz}\""));
                }
                "Description" => {
                    comment = format!(": {}", self.ctx.string(v)?);
                    report.mapped(pk, "a comment");
                }
                "RetryPolicy" => report.unsupported(
                    pk,
                    "firings retry as async invocations do (async.maximum_retry_attempts)",
                ),
                "DeadLetterConfig" => report.unsupported(
                    pk,
                    "failed firings go to ondol's dead-letter store (ondol dlq)",
                ),
                _ => report.unsupported(pk, "not a schedule setting ondol has"),
            }
        }
        Ok((enabled, comment))
    }

    /// `Input`: the JSON text of the event each firing sends.
    fn input(&self, v: &Value) -> Result<toml_edit::Value, String> {
        let text = self.ctx.string(v)?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| format!("Input: expected JSON: {e}"))?;
        json_to_toml(&json).ok_or_else(|| "Input: expected a JSON value other than null".into())
    }
}
