//! AWS SAM: a `template.yaml` with `Transform: AWS::Serverless-2016-10-31` (and its
//! `samconfig.toml`) as the text of an `ondol.toml`. Parameters take their
//! `Default`, then the samconfig environment's `parameter_overrides`; intrinsic
//! functions are evaluated; each function, layer, API event and schedule becomes
//! its ondol equivalent, and every other resource is reported.

mod api;
mod auth;
mod build;
mod events;
mod function;
mod intrinsics;
mod samconfig;
mod web;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use super::auth::Auths;
use super::{Imported, Report};
use intrinsics::Ctx;
use std::collections::BTreeMap;

const TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// What the template amounts to, gathered before it is written out.
#[derive(Default)]
pub struct Out {
    pub functions: Vec<(String, Table)>,
    pub layers: Vec<(String, Table)>,
    pub routes: Vec<Table>,
    pub schedules: Vec<Table>,
    /// The app's CORS, and the key it came from.
    pub cors: Option<(String, toml_edit::InlineTable)>,
    /// The authorizers and usage plans the routes use.
    pub auths: Auths,
    /// Each API's `Auth`, by logical id.
    pub apis: BTreeMap<String, auth::ApiAuth>,
    /// Protected routes that could not be mapped: the import fails.
    pub errors: Vec<String>,
}

/// Imports `source` (a `template.yaml`) for the samconfig environment `stage`
/// (`default` when `None`).
pub fn import(source: &Path, stage: Option<&str>) -> Result<Imported> {
    let text =
        std::fs::read_to_string(source).with_context(|| format!("reading {}", source.display()))?;
    let yaml: serde_norway::Value =
        serde_norway::from_str(&text).with_context(|| format!("{}: not YAML", source.display()))?;
    let t = intrinsics::to_json(&yaml);
    let Some(top) = t.as_object() else {
        bail!("{}: expected a map of template sections", source.display());
    };
    if !transforms(top).iter().any(|x| x == TRANSFORM) {
        bail!(
            "{}: not a SAM template (expected Transform: {TRANSFORM})",
            source.display()
        );
    }
    let dir = source.parent().unwrap_or(Path::new("."));
    let mut report = Report::default();
    let env = stage.unwrap_or("default");
    let config = samconfig::read(dir, env, &mut report)?;
    let ctx = context(top, dir, &config, &mut report)?;
    let mut out = Out::default();
    sections(top, &mut report);
    let globals = globals(&ctx, top, &mut out, &mut report);
    let apis = auth::collect(&ctx, top, &mut out, &mut report);
    out.apis = apis;
    resources(&ctx, top, &globals, &mut out, &mut report)?;
    if !out.errors.is_empty() {
        bail!(
            "{}: these routes are protected and cannot be imported as they are (ondol would serve them open):\n  {}",
            source.display(),
            out.errors.join("\n  ")
        );
    }
    Ok(Imported {
        manifest: render(&ctx.app, stage, env, out),
        report,
    })
}

fn transforms(top: &Map<String, Value>) -> Vec<String> {
    match top.get("Transform") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => vec![],
    }
}

/// The names a template resolves: its parameters (defaults, then overrides),
/// conditions, mappings and resources, and the app's name.
fn context(
    top: &Map<String, Value>,
    dir: &Path,
    config: &samconfig::Config,
    report: &mut Report,
) -> Result<Ctx> {
    let mut ctx = Ctx {
        app: config.stack_name.clone().unwrap_or_else(|| dir_name(dir)),
        ..Ctx::default()
    };
    ctx.app = app_name(&ctx.app);
    let empty = Map::new();
    let params = top
        .get("Parameters")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (name, p) in params {
        let key = format!("Parameters.{name}");
        if let Some(v) = config.overrides.get(name) {
            ctx.params.insert(name.clone(), Value::String(v.clone()));
            report.mapped(key, format!("{v:?} (samconfig.toml parameter_overrides)"));
        } else if let Some(d) = p.get("Default") {
            ctx.params.insert(name.clone(), d.clone());
            report.mapped(key, format!("{} (its Default)", d));
        } else {
            bail!("template.yaml: Parameters.{name}: no Default and no parameter_overrides value in samconfig.toml");
        }
    }
    for k in config.overrides.keys().filter(|k| !params.contains_key(*k)) {
        report.unsupported(
            format!("samconfig.toml parameter_overrides {k}"),
            "the template has no such parameter",
        );
    }
    if let Some(Value::Object(c)) = top.get("Conditions") {
        ctx.conditions = c.clone().into_iter().collect();
    }
    ctx.mappings = top.get("Mappings").cloned().unwrap_or(Value::Null);
    if let Some(Value::Object(r)) = top.get("Resources") {
        for (id, res) in r {
            let ty = res.get("Type").and_then(Value::as_str).unwrap_or("");
            ctx.resources.insert(id.clone(), ty.to_string());
        }
    }
    Ok(ctx)
}

fn dir_name(dir: &Path) -> String {
    super::dir_name(dir).unwrap_or_else(|| "sam-app".into())
}

/// A stack name as an app name: 1–32 characters of `[a-zA-Z0-9-_]`.
fn app_name(s: &str) -> String {
    let n: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    if n.is_empty() {
        "sam-app".into()
    } else {
        n
    }
}

/// The template's other top-level sections.
fn sections(top: &Map<String, Value>, report: &mut Report) {
    for k in top.keys() {
        match k.as_str() {
            "Resources" | "Parameters" | "Globals" => {}
            "Transform" => {
                for t in transforms(top).iter().filter(|t| *t != TRANSFORM) {
                    report.unsupported(
                        format!("Transform {t}"),
                        "only AWS::Serverless-2016-10-31 is applied",
                    );
                }
                report.mapped(k, "read as SAM")
            }
            "AWSTemplateFormatVersion" => report.mapped(k, "(nothing to set)"),
            "Description" => report.mapped(k, "(nothing to set)"),
            "Conditions" => report.mapped(k, "evaluated where the template uses them"),
            "Mappings" => report.mapped(k, "evaluated where Fn::FindInMap uses them"),
            "Outputs" => report.unsupported(
                k,
                "no CloudFormation stack outputs: `ondol status` shows the routes and functions",
            ),
            "Metadata" => report.unsupported(k, "template metadata is not used"),
            _ => report.unsupported(k, "not a template section ondol reads"),
        }
    }
}

/// `Globals.Function`, evaluated where functions use it; `Globals.Api` and
/// `Globals.HttpApi` give the CORS; the others (`SimpleTable`) are reported.
fn globals(
    ctx: &Ctx,
    top: &Map<String, Value>,
    out: &mut Out,
    report: &mut Report,
) -> Map<String, Value> {
    let Some(Value::Object(g)) = top.get("Globals") else {
        return Map::new();
    };
    for (k, v) in g.iter().filter(|(k, _)| *k != "Function") {
        match (k.as_str(), v.as_object()) {
            ("Api" | "HttpApi", Some(props)) => {
                api::map_api(ctx, &format!("Globals.{k}"), props, &mut out.cors, report)
            }
            _ => report.unsupported(
                format!("Globals.{k}"),
                "only Globals.Function, Api and HttpApi are imported",
            ),
        }
    }
    let f = g
        .get("Function")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in &f {
        let key = format!("Globals.Function.{k}");
        match (k.as_str(), function::manifest_key(k)) {
            ("Environment", _) => {
                for name in v
                    .get("Variables")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|m| m.keys())
                {
                    let raw = &v["Variables"][name];
                    match ctx.string(raw) {
                        Ok(_) => report.mapped(
                            format!("{key}.Variables.{name}"),
                            format!("environment.{name} of every function"),
                        ),
                        Err(why) => report.unsupported(format!("{key}.Variables.{name}"), why),
                    }
                }
            }
            ("Events", _) => report.unsupported(key, "events belong to each function"),
            (_, Some(to)) => report.mapped(key, format!("{to} of every function")),
            (_, None) => report.unsupported(key, function::unsupported_reason(k)),
        }
    }
    f
}

fn resources(
    ctx: &Ctx,
    top: &Map<String, Value>,
    globals: &Map<String, Value>,
    out: &mut Out,
    report: &mut Report,
) -> Result<()> {
    let Some(Value::Object(res)) = top.get("Resources") else {
        bail!("template.yaml: expected Resources");
    };
    let empty = Map::new();
    for (id, r) in res {
        let key = format!("Resources.{id}");
        let ty = r.get("Type").and_then(Value::as_str).unwrap_or("");
        if let Some(c) = r.get("Condition").and_then(Value::as_str) {
            match ctx.condition(&serde_json::json!({ "Condition": c })) {
                Ok(true) => {}
                Ok(false) => {
                    report.mapped(key, format!("not created: its Condition {c} is false"));
                    continue;
                }
                Err(why) => bail!("template.yaml: {key}.Condition: {why}"),
            }
        }
        let props = r
            .get("Properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let compile = if ty.starts_with("AWS::Serverless::") {
            attributes(id, r, report)
        } else {
            None
        };
        match ty {
            "AWS::Serverless::Function" => {
                function::map_function(ctx, id, props, globals, out, report);
                if let (Some(c), Some((_, t))) = (compile, out.functions.last_mut()) {
                    t["compile"] = value(c);
                }
            }
            "AWS::Serverless::LayerVersion" => layer(ctx, id, props, out, report),
            "AWS::Serverless::Api" | "AWS::Serverless::HttpApi" => {
                report.mapped(
                    format!("{key} ({ty})"),
                    "served by the front door: its routes come from the functions' events",
                );
                api::map_api(
                    ctx,
                    &format!("{key}.Properties"),
                    props,
                    &mut out.cors,
                    report,
                );
            }
            _ => report.unsupported(format!("{key} ({ty})"), resource_reason(ty)),
        }
    }
    Ok(())
}

/// A resource's keys beside `Type`, `Properties` and `Condition`: `DependsOn`, the
/// deletion policies, and `Metadata` (how `sam build` builds it: its esbuild
/// step is returned as a `compile` table).
fn attributes(id: &str, r: &Value, report: &mut Report) -> Option<toml_edit::InlineTable> {
    let m = r.as_object()?;
    let mut compile = None;
    for (k, v) in m {
        let key = format!("Resources.{id}.{k}");
        match k.as_str() {
            "Type" | "Properties" | "Condition" => {}
            "DependsOn" => report.mapped(key, "(a deploy publishes every function together)"),
            "DeletionPolicy" | "UpdateReplacePolicy" => {
                report.mapped(key, "(ondol keeps versions until `ondol remove`)")
            }
            "Metadata" => compile = build::metadata(id, v, report),
            _ => report.unsupported(key, "a resource attribute ondol does not use"),
        }
    }
    compile
}

fn resource_reason(ty: &str) -> String {
    let why = match ty {
        "AWS::Serverless::Api" | "AWS::Serverless::HttpApi" | "AWS::ApiGateway::RestApi" | "AWS::ApiGatewayV2::Api" => {
            "routes come from the functions' Api/HttpApi events; the API's own settings (auth, stages, domains) are not imported"
        }
        "AWS::Serverless::SimpleTable" | "AWS::DynamoDB::Table" => "ondol creates no DynamoDB tables: point the function at a database you run",
        "AWS::S3::Bucket" => "ondol creates no S3 buckets: point the function at storage you run",
        t if t.starts_with("AWS::IAM::") => "ondol has no IAM",
        t if t.starts_with("AWS::EC2::") => "ondol has no VPCs or EC2 resources",
        "AWS::SQS::Queue" | "AWS::SNS::Topic" => "ondol creates no queues or topics",
        _ => "ondol creates only functions, layers, routes and schedules",
    };
    why.to_string()
}

fn layer(ctx: &Ctx, id: &str, props: &Map<String, Value>, out: &mut Out, report: &mut Report) {
    let mut t = Table::new();
    for (k, v) in props {
        let key = format!("Resources.{id}.Properties.{k}");
        let r = match k.as_str() {
            "ContentUri" => ctx.string(v).map(|s| {
                let d = s.trim_end_matches('/');
                let d = if d.is_empty() { "." } else { d };
                t["code"] = value(d);
                format!("code = {d:?}")
            }),
            "Description" => ctx.string(v).map(|s| {
                t["description"] = value(&s);
                "description".into()
            }),
            "LicenseInfo" => ctx.string(v).map(|s| {
                t["license"] = value(&s);
                "license".into()
            }),
            "CompatibleRuntimes" => ctx.eval(v).map(|rt| {
                let a: toml_edit::Array = rt
                    .iter()
                    .flat_map(|x| x.as_array())
                    .flatten()
                    .filter_map(|x| x.as_str())
                    .collect();
                t["compatible_runtimes"] = value(a);
                "compatible_runtimes".into()
            }),
            "LayerName" => Err(format!("ondol names the layer <app>-{id}")),
            "RetentionPolicy" => Err("ondol keeps every layer version".into()),
            _ => Err("not a layer setting ondol has".into()),
        };
        match r {
            Ok(to) => report.mapped(key, to),
            Err(why) => report.unsupported(key, why),
        }
    }
    t.decor_mut().set_prefix(format!(
        "\n# Resources.{id} (AWS::Serverless::LayerVersion)\n"
    ));
    out.layers.push((id.to_string(), t));
}

/// A JSON value as TOML (`null` has no TOML form).
pub fn json_to_toml(v: &Value) -> Option<toml_edit::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(a) => toml_edit::Value::Array(a.iter().filter_map(json_to_toml).collect()),
        Value::Object(m) => toml_edit::Value::InlineTable(
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str(), json_to_toml(v)?)))
                .collect(),
        ),
    })
}

fn render(app: &str, stage: Option<&str>, env: &str, out: Out) -> String {
    let mut doc = DocumentMut::new();
    doc.decor_mut().set_prefix(format!(
        "# Imported from an AWS SAM template.yaml (samconfig environment \"{env}\") by `ondol import`.\n"
    ));
    doc["app"] = value(app);
    let named = |items: Vec<(String, Table)>| {
        let mut t = Table::new();
        t.set_implicit(true);
        for (k, v) in items {
            t.insert(&k, Item::Table(v));
        }
        Item::Table(t)
    };
    if !out.functions.is_empty() {
        doc["functions"] = named(out.functions);
    }
    if !out.layers.is_empty() {
        doc["layers"] = named(out.layers);
    }
    for (k, list) in [("routes", out.routes), ("schedules", out.schedules)] {
        if !list.is_empty() {
            let mut a = ArrayOfTables::new();
            list.into_iter().for_each(|t| a.push(t));
            doc[k] = Item::ArrayOfTables(a);
        }
    }
    out.auths.render(&mut doc);
    if let Some((from, cors)) = out.cors {
        let mut http = Table::new();
        http.decor_mut().set_prefix(format!("\n# {from}\n"));
        http.insert("cors", value(cors));
        doc["http"] = Item::Table(http);
    }
    if let Some(s) = stage {
        let mut t = Table::new();
        t.decor_mut().set_prefix(format!(
            "\n# the samconfig environment \"{s}\", deployed as this stage\n"
        ));
        let mut stages = Table::new();
        stages.set_implicit(true);
        stages.insert(s, Item::Table(t));
        doc["stages"] = Item::Table(stages);
    }
    let mut text = doc.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
