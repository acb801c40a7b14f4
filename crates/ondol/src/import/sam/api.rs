//! The APIs of a template (`AWS::Serverless::HttpApi`, `AWS::Serverless::Api`, and
//! `Globals.HttpApi` / `Globals.Api`): their CORS becomes the app's `[http] cors`;
//! ondol serves every route at one front door, so their other settings are reported.

use serde_json::{Map, Value};
use toml_edit::{Array, InlineTable};

use super::intrinsics::Ctx;
use crate::import::Report;

/// Maps one API's properties (`at` names it in the report); its CORS goes to `cors`
/// unless another API's already did.
pub fn map_api(
    ctx: &Ctx,
    at: &str,
    props: &Map<String, Value>,
    cors: &mut Option<(String, InlineTable)>,
    report: &mut Report,
) {
    for (k, v) in props {
        let key = format!("{at}.{k}");
        let found = match k.as_str() {
            "CorsConfiguration" => http_api_cors(ctx, v),
            "Cors" => rest_api_cors(ctx, v),
            "StageName" => {
                report.mapped(key, "(routes are served at the root, or under /<stage>/ for an ondol stage)");
                continue;
            }
            "Auth" => {
                report.mapped(key, "[authorizers] and the auth of its routes");
                continue;
            }
            "Domain" => Err("ondol serves any Host: point the domain at the front door (a stage's hosts = [...])".into()),
            _ => Err("an API Gateway setting ondol does not have".into()),
        };
        match (found, cors.as_ref()) {
            (Ok(_), Some((first, _))) => {
                report.unsupported(key, format!("one CORS per app: {first} is used"))
            }
            (Ok(t), None) => {
                report.mapped(&key, "[http] cors");
                *cors = Some((key, t));
            }
            (Err(why), _) => report.unsupported(key, why),
        }
    }
}

fn list(items: impl IntoIterator<Item = String>) -> Array {
    items.into_iter().collect()
}

/// `CorsConfiguration`: `true` (everything allowed) or AllowOrigins, AllowMethods ...
fn http_api_cors(ctx: &Ctx, v: &Value) -> Result<InlineTable, String> {
    let v = ctx.eval(v)?.unwrap_or(Value::Null);
    let mut t = InlineTable::new();
    if v == Value::Bool(true) {
        for k in ["allow_origins", "allow_methods", "allow_headers"] {
            t.insert(k, list(["*".to_string()]).into());
        }
        return Ok(t);
    }
    let m = v.as_object().ok_or("expected true or a map")?;
    let strings = |k: &str| -> Vec<String> {
        m.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (from, to) in [
        ("AllowOrigins", "allow_origins"),
        ("AllowMethods", "allow_methods"),
        ("AllowHeaders", "allow_headers"),
        ("ExposeHeaders", "expose_headers"),
    ] {
        if m.contains_key(from) {
            t.insert(to, list(strings(from)).into());
        }
    }
    if let Some(n) = m.get("MaxAge").and_then(Value::as_i64) {
        t.insert("max_age", n.into());
    }
    if let Some(b) = m.get("AllowCredentials").and_then(Value::as_bool) {
        t.insert("allow_credentials", b.into());
    }
    Ok(t)
}

/// `Cors`: `"'*'"` (an origin) or AllowOrigin, AllowMethods, AllowHeaders, MaxAge as
/// the single-quoted header values REST APIs take (`"'GET,POST'"`).
fn rest_api_cors(ctx: &Ctx, v: &Value) -> Result<InlineTable, String> {
    let v = ctx.eval(v)?.unwrap_or(Value::Null);
    let header = |v: &Value| -> Result<Vec<String>, String> {
        let s = ctx.string(v)?;
        Ok(s.trim_matches('\'')
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect())
    };
    let mut t = InlineTable::new();
    if let Value::String(_) = v {
        t.insert("allow_origins", list(header(&v)?).into());
        return Ok(t);
    }
    let m = v.as_object().ok_or("expected an origin or a map")?;
    for (from, to) in [
        ("AllowOrigin", "allow_origins"),
        ("AllowMethods", "allow_methods"),
        ("AllowHeaders", "allow_headers"),
    ] {
        if let Some(x) = m.get(from) {
            t.insert(to, list(header(x)?).into());
        }
    }
    if let Some(x) = m.get("MaxAge") {
        let n: i64 = ctx
            .string(x)?
            .trim_matches('\'')
            .parse()
            .map_err(|_| "MaxAge: expected seconds")?;
        t.insert("max_age", n.into());
    }
    if let Some(b) = m.get("AllowCredentials").and_then(Value::as_bool) {
        t.insert("allow_credentials", b.into());
    }
    Ok(t)
}
