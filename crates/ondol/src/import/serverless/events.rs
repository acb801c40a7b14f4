//! A function's `events` as ondol routes and schedules: `httpApi` (API Gateway HTTP
//! API, payload 2.0), `http` (REST API, payload 1.0) and `schedule` (EventBridge).

use serde_norway::Value;
use toml_edit::{value, Array, InlineTable, Table};

use super::vars::{join, scalar_text};
use crate::import::Report;

/// `httpApi: '*'`, `httpApi: 'GET /path'` or `httpApi: {method, path}`.
pub fn http_api(function: &str, key: &str, v: &Value, report: &mut Report) -> Option<Table> {
    let (method, path) = match v {
        Value::String(s) if s.trim() == "*" => {
            return Some(route(key, "$default", function, None, report))
        }
        Value::String(s) => s
            .trim()
            .split_once(' ')
            .map(|(m, p)| (m.to_string(), p.to_string()))?,
        Value::Mapping(m) => {
            for k in m
                .keys()
                .map(scalar_text)
                .filter(|k| !matches!(k.as_str(), "method" | "path" | "authorizer"))
            {
                report.unsupported(join(key, &k), "not mapped to ondol routes");
            }
            let get = |f: &str| m.get(f).map(scalar_text).unwrap_or_default();
            (get("method"), get("path"))
        }
        _ => None?,
    };
    let r = format!("{} {}", method_of(&method), path_of(&path));
    if r == "ANY /*" || r == "ANY *" {
        return Some(route(key, "$default", function, None, report));
    }
    Some(route(key, &r, function, None, report))
}

/// `http: 'GET path'` or `http: {method, path, ...}`: a REST API route, payload 1.0.
pub fn http(function: &str, key: &str, v: &Value, report: &mut Report) -> Option<Table> {
    let (method, path) = match v {
        Value::String(s) => s
            .trim()
            .split_once(' ')
            .map(|(m, p)| (m.to_string(), p.to_string()))?,
        Value::Mapping(m) => {
            let skip = ["method", "path", "integration", "authorizer", "private"];
            for k in m
                .keys()
                .map(scalar_text)
                .filter(|k| !skip.contains(&k.as_str()))
            {
                let why = match k.as_str() {
                    "cors" => "CORS is app-wide in ondol: set [http] cors",
                    _ => "not mapped to ondol routes",
                };
                report.unsupported(join(key, &k), why);
            }
            if m.get("integration")
                .is_some_and(|i| !matches!(scalar_text(i).as_str(), "lambda-proxy" | "aws_proxy"))
            {
                report.unsupported(
                    join(key, "integration"),
                    "only the Lambda proxy integration is served",
                );
            }
            let get = |f: &str| m.get(f).map(scalar_text).unwrap_or_default();
            (get("method"), get("path"))
        }
        _ => None?,
    };
    let r = format!("{} {}", method_of(&method), path_of(&path));
    Some(route(key, &r, function, Some("1.0"), report))
}

fn route(key: &str, r: &str, function: &str, payload: Option<&str>, report: &mut Report) -> Table {
    let mut t = Table::new();
    t.decor_mut().set_prefix(format!("\n# from {key}\n"));
    t["route"] = value(r);
    t["function"] = value(function);
    if let Some(p) = payload {
        t["payload"] = value(p);
    }
    let what = match payload {
        Some(p) => format!("route \"{r}\" (payload {p})"),
        None => format!("route \"{r}\""),
    };
    report.mapped(key, what);
    t
}

/// `get`, `*`, `any` → `GET`, `ANY`, `ANY`.
fn method_of(m: &str) -> String {
    match m.trim() {
        "*" | "" => "ANY".into(),
        m => m.to_ascii_uppercase(),
    }
}

/// REST paths are often written without the leading slash (`users/{id}`).
fn path_of(p: &str) -> String {
    let p = p.trim();
    if p.starts_with('/') || p == "*" {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// `schedule: rate(...)` or `{rate: expr | [expr...], enabled, input, name}`: one
/// ondol schedule per expression; `enabled: false` ones are left out. `n` is how
/// many schedules exist already (for unique names).
pub fn schedule(function: &str, n: usize, key: &str, v: &Value, report: &mut Report) -> Vec<Table> {
    let (rates, m) = match v {
        Value::String(s) => (vec![s.clone()], None),
        Value::Mapping(m) => {
            let rates = match m.get("rate") {
                Some(Value::Sequence(s)) => s.iter().map(scalar_text).collect(),
                Some(r) => vec![scalar_text(r)],
                None => Vec::new(),
            };
            (rates, Some(m))
        }
        _ => (Vec::new(), None),
    };
    if rates.is_empty() {
        report.unsupported(key, "expected rate(...) or cron(...)");
        return Vec::new();
    }
    let get = |f: &str| m.and_then(|m| m.get(f));
    if get("enabled").is_some_and(|e| matches!(e, Value::Bool(false))) {
        report.mapped(
            join(key, "enabled"),
            "nothing: a disabled schedule is not created",
        );
        return Vec::new();
    }
    for k in m.into_iter().flat_map(|m| m.keys()).map(scalar_text) {
        if !matches!(
            k.as_str(),
            "rate" | "enabled" | "input" | "name" | "description"
        ) {
            report.unsupported(join(key, &k), "not mapped to ondol schedules (input is)");
        }
    }
    let input = get("input").map(toml_of);
    let base = get("name").map(scalar_text);
    let mut out = Vec::new();
    for (i, rate) in rates.iter().enumerate() {
        let name = match (&base, rates.len()) {
            (Some(b), 1) => b.clone(),
            (Some(b), _) => format!("{b}-{i}"),
            (None, _) => format!("{function}-schedule-{}", n + i + 1),
        };
        let mut t = Table::new();
        t.decor_mut().set_prefix(format!("\n# from {key}\n"));
        t["name"] = value(&name);
        t["function"] = value(function);
        t["expression"] = value(rate.trim());
        if let Some(inp) = &input {
            t["input"] = value(inp.clone());
        }
        out.push(t);
        report.mapped(key, format!("[[schedules]] \"{name}\" {rate}"));
    }
    out
}

/// A YAML value as a TOML value (`null` has no TOML form: an empty string).
fn toml_of(v: &Value) -> toml_edit::Value {
    match v {
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or_default().into(),
        },
        Value::Sequence(s) => Array::from_iter(s.iter().map(toml_of)).into(),
        Value::Mapping(m) => {
            let mut t = InlineTable::new();
            for (k, x) in m {
                t.insert(scalar_text(k), toml_of(x));
            }
            t.into()
        }
        other => scalar_text(other).into(),
    }
}
