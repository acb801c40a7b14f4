//! The Serverless Framework importer: `serverless.yml` (v3/v4, AWS provider) as the
//! text of an `ondol.toml`. Variables are resolved first ([`vars`]); then the
//! service, `provider` defaults, `functions` and their `httpApi`, `http` and
//! `schedule` events are mapped, and every other key is reported.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_norway::{Mapping, Value};
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table};

use super::auth::{Auths, Def};
use super::{Imported, Report};

mod auth;
mod build;
mod events;
mod vars;

use vars::{join, scalar_text, Vars};

/// Reads `source` (a `serverless.yml`) for `stage` (`--stage`; `None`: the file's own).
pub fn import(source: &Path, stage: Option<&str>) -> Result<Imported> {
    let text =
        std::fs::read_to_string(source).with_context(|| format!("reading {}", source.display()))?;
    from_str(&text, stage, &|k| std::env::var(k).ok())
        .with_context(|| format!("{}", source.display()))
}

/// The import of `text`; `env` stands for the process environment (`${env:X}`).
pub fn from_str(
    text: &str,
    stage: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Imported> {
    let raw: Value = serde_norway::from_str(text).context("not valid YAML")?;
    if !raw.is_mapping() {
        bail!("expected a mapping at the top of serverless.yml");
    }
    let mut report = Report::default();
    let mut probe = Vars {
        root: &raw,
        opt_stage: stage,
        stage: "dev".into(),
        env,
    };
    // The stage in effect is needed before the rest resolves (`${sls:stage}`).
    let file_stage = raw.get("provider").and_then(|p| p.get("stage"));
    let mut ignored = Vec::new();
    probe.stage = match (stage, file_stage) {
        (Some(s), _) => s.to_string(),
        (None, Some(v)) => scalar_text(&probe.resolve(v, "provider.stage", &mut ignored)),
        (None, None) => "dev".into(),
    };
    let mut bad = Vec::new();
    let doc = probe.resolve(&raw, "", &mut bad);
    for b in bad {
        report.unsupported(
            b.key,
            format!(
                "{}: ondol resolves self:, opt:stage, sls:stage, env: and literal fallbacks; set it another way (kept as written)",
                b.expr
            ),
        );
    }
    let mut out = Out::new(report);
    out.service(&doc)?;
    out.top_level(&doc, stage);
    if !out.errors.is_empty() {
        bail!(
            "these routes are protected and cannot be imported as they are (ondol would serve them open):\n  {}",
            out.errors.join("\n  ")
        );
    }
    Ok(Imported {
        manifest: out.doc.to_string(),
        report: out.report,
    })
}

/// The manifest being written and the report of what went into it.
struct Out {
    doc: DocumentMut,
    report: Report,
    functions: Table,
    routes: ArrayOfTables,
    schedules: ArrayOfTables,
    /// What the TypeScript plugins make of each Node function's code.
    compile: Option<InlineTable>,
    /// The service's `package` patterns as `exclude` lines.
    exclude: Vec<String>,
    /// The authorizers and usage plans the routes use.
    auths: Auths,
    /// `provider.httpApi.authorizers`, by name, with where each came from.
    http_api_auth: BTreeMap<String, Result<(Def, String), String>>,
    /// Protected routes that could not be mapped: the import fails.
    errors: Vec<String>,
}

/// Function settings `provider` gives every function and a function may override.
#[derive(Default, Clone)]
struct Defaults {
    runtime: Option<String>,
    memory: Option<i64>,
    timeout: Option<i64>,
    environment: Vec<(String, String)>,
}

impl Out {
    fn new(report: Report) -> Self {
        let mut functions = Table::new();
        functions.set_implicit(true);
        Self {
            doc: DocumentMut::new(),
            report,
            functions,
            routes: ArrayOfTables::new(),
            schedules: ArrayOfTables::new(),
            compile: None,
            exclude: Vec::new(),
            auths: Auths::default(),
            http_api_auth: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    fn service(&mut self, doc: &Value) -> Result<()> {
        let name = match doc.get("service") {
            Some(Value::Mapping(m)) => m.get("name").map(scalar_text),
            Some(v) => Some(scalar_text(v)),
            None => None,
        };
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            bail!("service: expected the service's name");
        };
        self.doc["app"] = value(&name);
        self.doc
            .key_mut("app")
            .expect("just set")
            .leaf_decor_mut()
            .set_prefix("# Imported from serverless.yml by `ondol import`.\n# from service\n");
        self.report.mapped("service", format!("app = \"{name}\""));
        Ok(())
    }

    fn top_level(&mut self, doc: &Value, stage: Option<&str>) {
        let empty = Mapping::new();
        let top = doc.as_mapping().unwrap_or(&empty);
        let provider = top.get("provider").and_then(Value::as_mapping);
        let defaults = self.provider(provider.unwrap_or(&empty));
        self.compile = build::compile(doc, &mut self.report);
        if let Some(p) = top.get("package") {
            self.exclude = self.package("package", p);
        }
        for (k, v) in top {
            let key = scalar_text(k);
            match key.as_str() {
                "service" | "provider" => {}
                "functions" => self.functions(v, &defaults),
                "custom" => self.report.mapped("custom", "read through ${self:custom...}"),
                "plugins" => self.plugins(v),
                "package" => {}
                "frameworkVersion" | "configValidationMode" | "variablesResolutionMode"
                | "org" | "app" | "console" | "dashboard" | "deprecationNotificationMode" => {
                    self.report.mapped(key, "nothing: a setting of the framework's CLI or dashboard")
                }
                "resources" => self.report.unsupported(key, "CloudFormation resources are not created; run what they describe yourself"),
                "layers" => self.report.unsupported(key, "write them as [layers.NAME] in ondol.toml"),
                "useDotenv" => self.report.unsupported(key, ".env files are not read: set the variables in the environment of `ondol deploy` for ${env:...}"),
                "params" => self.report.unsupported(key, "${param:...} is not resolved; use custom and ${self:custom...}"),
                _ => self.report.unsupported(key, "not understood by ondol's importer"),
            }
        }
        self.finish(stage);
    }

    fn finish(&mut self, stage: Option<&str>) {
        let functions = std::mem::take(&mut self.functions);
        self.doc.insert("functions", Item::Table(functions));
        if !self.routes.is_empty() {
            let routes = std::mem::take(&mut self.routes);
            self.doc.insert("routes", Item::ArrayOfTables(routes));
        }
        if !self.schedules.is_empty() {
            let s = std::mem::take(&mut self.schedules);
            self.doc.insert("schedules", Item::ArrayOfTables(s));
        }
        std::mem::take(&mut self.auths).render(&mut self.doc);
        if let Some(s) = stage {
            let mut stages = Table::new();
            stages.set_implicit(true);
            let mut t = Table::new();
            t.decor_mut().set_prefix(format!(
                "\n# from --stage {s}: the stage deployed beside $default\n"
            ));
            stages.insert(s, Item::Table(t));
            self.doc.insert("stages", Item::Table(stages));
        }
    }

    fn provider(&mut self, p: &Mapping) -> Defaults {
        let mut d = Defaults::default();
        for (k, v) in p {
            let k = scalar_text(k);
            let key = join("provider", &k);
            match k.as_str() {
                "name" if scalar_text(v) == "aws" => self.report.mapped(key, "ondol runs AWS Lambda functions"),
                "name" => self.report.unsupported(key, "only the aws provider is imported"),
                "runtime" => {
                    d.runtime = Some(scalar_text(v));
                    self.report.mapped(key, "runtime of each function");
                }
                "memorySize" => {
                    d.memory = v.as_i64();
                    self.report.mapped(key, "memory_mb of each function");
                }
                "timeout" => {
                    d.timeout = v.as_i64();
                    self.report.mapped(key, "timeout of each function");
                }
                "environment" => {
                    d.environment = self.environment(&key, v);
                    self.report.mapped(key, "environment of each function");
                }
                "stage" => self.report.mapped(key, "the stage of ${sls:stage} (deploy a named stage with --stage)"),
                "region" | "profile" | "deploymentBucket" | "deploymentMethod" | "stackName" | "versionFunctions" => {
                    self.report.mapped(key, "nothing: ondol serves from this machine")
                }
                "httpApi" => self.provider_http_api(v),
                "apiGateway" => self.api_gateway(&key, v),
                "iam" | "iamRoleStatements" | "iamManagedPolicies" | "role" => self.report.unsupported(
                    key,
                    "functions run without an AWS role; give them credentials in their environment if they call AWS",
                ),
                "vpc" => self.report.unsupported(key, "no VPC: functions reach the network of this machine (network = \"none\" cuts it)"),
                "layers" => self.report.unsupported(key, "write them as [layers.NAME] and functions' layers in ondol.toml"),
                _ => self.report.unsupported(key, "not mapped to ondol"),
            }
        }
        d
    }

    fn provider_http_api(&mut self, v: &Value) {
        for (k, x) in v.as_mapping().into_iter().flatten() {
            let k = scalar_text(k);
            let key = join("provider.httpApi", &k);
            match (k.as_str(), x) {
                ("cors", Value::Bool(true)) => {
                    let mut cors = InlineTable::new();
                    for f in ["allow_origins", "allow_methods", "allow_headers"] {
                        cors.insert(f, Array::from_iter(["*"]).into());
                    }
                    self.doc["http"]["cors"] = value(cors);
                    self.report.mapped(key, "[http] cors allowing every origin, method and header");
                }
                ("authorizers", a) => self.http_api_authorizers(&key, a),
                ("payload", p) if scalar_text(p) == "2.0" => self.report.mapped(key, "payload = \"2.0\" (the default)"),
                ("payload", p) if scalar_text(p) == "1.0" => self.report.unsupported(key, "httpApi routes are imported with payload 2.0; write payload = \"1.0\" on the routes"),
                _ => self.report.unsupported(key, "not mapped to ondol"),
            }
        }
    }

    /// `KEY: value` pairs as strings, as Lambda's environment holds them.
    fn environment(&mut self, key: &str, v: &Value) -> Vec<(String, String)> {
        let Some(m) = v.as_mapping() else {
            self.report
                .unsupported(key, "expected a mapping of NAME: value");
            return Vec::new();
        };
        m.iter()
            .map(|(k, x)| (scalar_text(k), scalar_text(x)))
            .collect()
    }

    fn plugins(&mut self, v: &Value) {
        for (i, name) in build::plugin_names(Some(v)).into_iter().enumerate() {
            let key = format!("plugins[{i}] ({name})");
            match name.as_str() {
                "serverless-python-requirements" => self.report.mapped(key, "ondol builds requirements.txt (or pyproject + lock) of each function's code itself"),
                "serverless-esbuild" | "serverless-plugin-typescript" => self.report.mapped(key, "compile of each Node function: the project's own esbuild / tsc runs at deploy"),
                "serverless-offline" => self.report.mapped(key, "nothing: `ondol dev` serves the app locally"),
                "serverless-dotenv-plugin" => self.report.unsupported(key, ".env is not read: export the variables before `ondol deploy`"),
                _ => self.report.unsupported(key, "plugins do not run under ondol"),
            }
        }
    }

    /// `package` (of the service or a function): its patterns as `exclude` lines.
    fn package(&mut self, key: &str, v: &Value) -> Vec<String> {
        let mut lines = Vec::new();
        for (k, x) in v.as_mapping().into_iter().flatten() {
            let k = scalar_text(k);
            let sub = join(key, &k);
            let list = x.as_sequence().into_iter().flatten().map(scalar_text);
            match k.as_str() {
                "patterns" | "exclude" | "include" => {
                    lines.extend(list.map(|p| build::exclude_line(&k, &p)));
                    self.report.mapped(
                        sub,
                        "exclude (gitignore lines, in order: the last match wins)",
                    );
                }
                "excludeDevDependencies" => self
                    .report
                    .mapped(sub, "ondol installs without dev dependencies"),
                "individually" => self
                    .report
                    .mapped(sub, "each function is packaged on its own"),
                _ => self
                    .report
                    .unsupported(sub, "the package is the service directory, built by ondol"),
            }
        }
        lines
    }

    fn functions(&mut self, v: &Value, defaults: &Defaults) {
        let Some(m) = v.as_mapping() else {
            self.report
                .unsupported("functions", "expected a mapping of function names");
            return;
        };
        for (name, f) in m {
            let name = scalar_text(name);
            self.function(&name, f, defaults);
        }
    }

    fn function(&mut self, name: &str, f: &Value, defaults: &Defaults) {
        let base = join("functions", name);
        let mut d = defaults.clone();
        let mut handler = String::new();
        let mut extra = Table::new();
        let mut exclude = self.exclude.clone();
        for (k, v) in f.as_mapping().into_iter().flatten() {
            let k = scalar_text(k);
            let key = join(&base, &k);
            match k.as_str() {
                "handler" => handler = scalar_text(v),
                "runtime" => d.runtime = Some(scalar_text(v)),
                "memorySize" => d.memory = v.as_i64(),
                "timeout" => d.timeout = v.as_i64(),
                "environment" => {
                    let own = self.environment(&key, v);
                    d.environment
                        .retain(|(n, _)| !own.iter().any(|(o, _)| o == n));
                    d.environment.extend(own);
                }
                "description" => extra["description"] = value(scalar_text(v)),
                "reservedConcurrency" => match v.as_i64() {
                    Some(n) if n > 0 => extra["max_concurrency"] = value(n),
                    _ => {
                        self.report
                            .unsupported(key, "only a positive limit maps (max_concurrency)");
                        continue;
                    }
                },
                "provisionedConcurrency" => extra["min_warm"] = value(v.as_i64().unwrap_or(0)),
                "ephemeralStorageSize" => {
                    extra["ephemeral_storage_mb"] = value(v.as_i64().unwrap_or(512))
                }
                "events" => {
                    self.events(name, &key, v);
                    continue;
                }
                "package" => {
                    let own = self.package(&key, v);
                    exclude.extend(own);
                    continue;
                }
                "name" => {
                    self.report
                        .unsupported(key, format!("the Lambda name is <app>-{name}"));
                    continue;
                }
                _ => {
                    self.report.unsupported(key, "not mapped to ondol");
                    continue;
                }
            }
            self.report
                .mapped(key, format!("[functions.{name}] {}", ondol_key(&k)));
        }
        let mut t = function_table(name, &handler, &d);
        for (k, v) in extra.iter() {
            t.insert(k, v.clone());
        }
        let node = d
            .runtime
            .as_deref()
            .is_some_and(|r| r.starts_with("nodejs"));
        if let Some(c) = self.compile.as_ref().filter(|_| node) {
            t["compile"] = value(c.clone());
        }
        if !exclude.is_empty() {
            t["exclude"] = value(Array::from_iter(exclude));
        }
        self.functions.insert(name, Item::Table(t));
    }

    fn events(&mut self, name: &str, key: &str, v: &Value) {
        for (i, e) in v.as_sequence().into_iter().flatten().enumerate() {
            let key = format!("{key}[{i}]");
            let Some((kind, body)) = e.as_mapping().and_then(|m| m.iter().next()) else {
                self.report
                    .unsupported(key, "expected an event like `httpApi: ...`");
                continue;
            };
            let kind = scalar_text(kind);
            let key = join(&key, &kind);
            match kind.as_str() {
                "httpApi" | "http" => {
                    let rest = kind == "http";
                    let t = if rest {
                        events::http(name, &key, body, &mut self.report)
                    } else {
                        events::http_api(name, &key, body, &mut self.report)
                    };
                    if let Some(mut t) = t {
                        self.route_auth(&key, body, &mut t, rest);
                        self.routes.push(t);
                    }
                }
                "schedule" => {
                    let n = self.schedules.len();
                    self.schedules
                        .extend(events::schedule(name, n, &key, body, &mut self.report));
                }
                _ => self.report.unsupported(
                    key,
                    "this event source is not served by ondol (HTTP and schedules are)",
                ),
            }
        }
    }
}

/// The ondol.toml key a function setting becomes.
fn ondol_key(k: &str) -> &str {
    match k {
        "memorySize" => "memory_mb",
        "reservedConcurrency" => "max_concurrency",
        "provisionedConcurrency" => "min_warm",
        "ephemeralStorageSize" => "ephemeral_storage_mb",
        other => other,
    }
}

/// A TOML table for one function, with the provider's defaults under its own keys.
fn function_table(name: &str, handler: &str, d: &Defaults) -> Table {
    let mut t = Table::new();
    t.decor_mut()
        .set_prefix(format!("\n# from functions.{name}\n"));
    if let Some(r) = &d.runtime {
        t["runtime"] = value(r);
    }
    t["handler"] = value(handler);
    // The framework zips the whole service directory for every function.
    t["code"] = value(".");
    if let Some(m) = d.memory {
        t["memory_mb"] = value(m);
    }
    if let Some(s) = d.timeout {
        t["timeout"] = value(format!("{s}s"));
    }
    if !d.environment.is_empty() {
        let mut env = InlineTable::new();
        for (k, v) in &d.environment {
            env.insert(k, v.into());
        }
        t["environment"] = value(env);
    }
    t
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;
