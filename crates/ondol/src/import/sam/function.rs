//! One `AWS::Serverless::Function` (its properties merged over `Globals.Function`)
//! as a `[functions.<LogicalId>]` table, with its events, alias, deployment
//! preference, layers and the Lambda Web Adapter's web mode.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use toml_edit::{value, Array, InlineTable, Table};

use super::events::map_events;
use super::intrinsics::Ctx;
use super::{web, Out};
use crate::import::Report;

/// The properties that become a key of `[functions.X]`, and the key.
pub fn manifest_key(prop: &str) -> Option<&'static str> {
    Some(match prop {
        "Handler" => "handler",
        "Runtime" => "runtime",
        "CodeUri" => "code",
        "MemorySize" => "memory_mb",
        "Timeout" => "timeout",
        "Description" => "description",
        "Environment" => "environment",
        "EphemeralStorage" => "ephemeral_storage_mb",
        "ReservedConcurrentExecutions" => "max_concurrency",
        "ProvisionedConcurrencyConfig" => "min_warm",
        "DeploymentPreference" => "strategy",
        "AutoPublishAlias" => "the stage's alias",
        "Layers" => "layers",
        "Events" => "routes and schedules",
        "PackageType" => "a zip of code",
        _ => return None,
    })
}

/// Why a property ondol has no equivalent for is left out.
pub fn unsupported_reason(prop: &str) -> &'static str {
    match prop {
        "Role" | "Policies" | "PermissionsBoundary" | "RolePath" | "AssumeRolePolicyDocument" => {
            "ondol has no IAM: functions run in its sandbox with the server's environment"
        }
        "VpcConfig" => "no VPCs: functions use the server's network (network = \"none\" cuts it off)",
        "Tracing" => "no X-Ray tracing",
        "Tags" | "PropagateTags" => "ondol keeps no resource tags",
        "DeadLetterQueue" => "no SQS/SNS: failed async events go to ondol's dead-letter store (ondol dlq)",
        "FunctionName" => "ondol names each function <app>-<LogicalId>",
        "Architectures" => "functions run on the server's own architecture",
        "InlineCode" => "inline code is not imported: put it in a CodeUri directory",
        "FunctionUrlConfig" => "Function URLs are created with the Lambda API (create-function-url-config), not the manifest",
        _ => "not a function setting ondol has",
    }
}

/// Maps one function: its own properties over `Globals.Function`'s (which are
/// reported there, once, rather than per function).
pub fn map_function(
    ctx: &Ctx,
    id: &str,
    own: &Map<String, Value>,
    globals: &Map<String, Value>,
    out: &mut Out,
    report: &mut Report,
) {
    let props = merge(globals, own);
    let from_globals: BTreeSet<String> = globals
        .keys()
        .filter(|k| !own.contains_key(*k))
        .cloned()
        .collect();
    let own_env: BTreeSet<String> = own
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let web = web::detect(ctx, &props);
    let mut t = Table::new();
    let mut f = Function {
        ctx,
        id,
        t: &mut t,
        report,
        globals: &from_globals,
        own_env,
    };
    for (k, v) in &props {
        if let Err(why) = f.property(k, v, web.is_some(), out) {
            if from_globals.contains(k) && manifest_key(k).is_none() {
                continue; // reported once, at Globals.Function
            }
            let key = if from_globals.contains(k) {
                format!("Globals.Function.{k} (in {id})")
            } else {
                format!("Resources.{id}.Properties.{k}")
            };
            f.report.unsupported(key, why);
        }
    }
    if !props.contains_key("CodeUri") {
        t["code"] = value(".");
        report.mapped(
            format!("Resources.{id}"),
            "code = \".\" (no CodeUri: the template's directory)",
        );
    }
    if let Some(w) = web {
        w.apply(&mut t, id, report);
    }
    t.sort_values_by(|a, _, b, _| order(a.get()).cmp(&order(b.get())));
    t.decor_mut()
        .set_prefix(format!("\n# Resources.{id} (AWS::Serverless::Function)\n"));
    out.functions.push((id.to_string(), t));
}

/// Where a key goes in the table: what runs first, then limits.
fn order(k: &str) -> usize {
    const KEYS: [&str; 12] = [
        "runtime",
        "handler",
        "code",
        "command",
        "readiness_path",
        "description",
        "memory_mb",
        "timeout",
        "environment",
        "layers",
        "min_warm",
        "max_concurrency",
    ];
    KEYS.iter().position(|x| *x == k).unwrap_or(KEYS.len())
}

/// `own` over `globals`, as SAM merges them: maps (environment variables) key by
/// key, anything else replaced.
fn merge(globals: &Map<String, Value>, own: &Map<String, Value>) -> Map<String, Value> {
    let mut props = globals.clone();
    for (k, v) in own {
        match (props.get_mut(k), v) {
            (Some(Value::Object(g)), Value::Object(o)) if k == "Environment" => {
                for (ek, ev) in o {
                    match (g.get_mut(ek), ev) {
                        (Some(Value::Object(gv)), Value::Object(ov)) => {
                            gv.extend(ov.clone());
                        }
                        _ => {
                            g.insert(ek.clone(), ev.clone());
                        }
                    }
                }
            }
            _ => {
                props.insert(k.clone(), v.clone());
            }
        }
    }
    props
}

struct Function<'a> {
    ctx: &'a Ctx,
    id: &'a str,
    t: &'a mut Table,
    report: &'a mut Report,
    globals: &'a BTreeSet<String>,
    /// The function's own environment variables (the rest are `Globals`').
    own_env: BTreeSet<String>,
}

impl Function<'_> {
    fn mapped(&mut self, k: &str, to: String) {
        if !self.globals.contains(k) {
            self.report
                .mapped(format!("Resources.{}.Properties.{k}", self.id), to);
        }
    }

    fn int(&self, v: &Value) -> Result<i64, String> {
        let s = self.ctx.string(v)?;
        s.parse()
            .map_err(|_| format!("expected a whole number, got {s:?}"))
    }

    fn property(&mut self, k: &str, v: &Value, web: bool, out: &mut Out) -> Result<(), String> {
        let field = |f: &str| v.get(f).ok_or_else(|| format!("expected {f}"));
        match k {
            "Handler" | "Runtime" | "Description" => {
                let s = self.ctx.string(v)?;
                if !(web && k != "Description") {
                    let mk = manifest_key(k).expect("known");
                    self.t[mk] = value(&s);
                    self.mapped(k, format!("{mk} = {s:?}"));
                }
            }
            "CodeUri" => self.code_uri(v)?,
            "MemorySize" => self.number(k, v, "memory_mb")?,
            "Timeout" => {
                let n = self.int(v)?;
                self.t["timeout"] = value(format!("{n}s"));
                self.mapped(k, format!("timeout = \"{n}s\""));
            }
            "Environment" => self.environment(v, web)?,
            "EphemeralStorage" => self.number(k, field("Size")?, "ephemeral_storage_mb")?,
            "ReservedConcurrentExecutions" => self.number(k, v, "max_concurrency")?,
            "ProvisionedConcurrencyConfig" => {
                self.number(k, field("ProvisionedConcurrentExecutions")?, "min_warm")?
            }
            "AutoPublishAlias" => {
                let a = self.ctx.string(v)?;
                self.mapped(k, format!("each deploy publishes a version; the stage's alias (live, or the stage's name) serves it instead of {a:?}"));
            }
            "DeploymentPreference" => self.deployment_preference(v)?,
            "Layers" => self.layers(v)?,
            "EventInvokeConfig" => self.event_invoke(v)?,
            "Events" => {
                if !self.globals.contains(k) {
                    map_events(self.ctx, self.id, v, web, out, self.report);
                }
            }
            "Architectures" | "PackageType" => self.platform(k, v)?,
            other => return Err(unsupported_reason(other).into()),
        }
        Ok(())
    }

    /// A whole-number property as the manifest key `mk`.
    fn number(&mut self, k: &str, v: &Value, mk: &str) -> Result<(), String> {
        let n = self.int(v)?;
        self.t[mk] = value(n);
        self.mapped(k, format!("{mk} = {n}"));
        Ok(())
    }

    fn code_uri(&mut self, v: &Value) -> Result<(), String> {
        let Some(Value::String(s)) = self.ctx.eval(v)? else {
            return Err(
                "code in S3 (Bucket/Key) is not imported: point CodeUri at a directory".into(),
            );
        };
        let dir = s.trim_end_matches('/');
        let dir = if dir.is_empty() { "." } else { dir };
        self.t["code"] = value(dir);
        self.mapped("CodeUri", format!("code = {dir:?}"));
        Ok(())
    }

    /// `Architectures` and `PackageType`: accepted when they are what ondol runs.
    fn platform(&mut self, k: &str, v: &Value) -> Result<(), String> {
        let host = if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "x86_64"
        };
        let v = self.ctx.eval(v)?.unwrap_or(Value::Null);
        if k == "PackageType" {
            return match v.as_str() {
                Some("Zip") => {
                    self.mapped(k, "a zip of code".into());
                    Ok(())
                }
                p => Err(format!(
                    "{} packages are not supported: ondol runs zip code with its runtimes",
                    p.unwrap_or("these")
                )),
            };
        }
        if !v
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x.as_str() == Some(host)))
        {
            return Err(format!(
                "functions run on the server's own architecture ({host})"
            ));
        }
        self.mapped(k, format!("this {host} server"));
        Ok(())
    }

    fn environment(&mut self, v: &Value, web: bool) -> Result<(), String> {
        let at = format!("Resources.{}.Properties.Environment", self.id);
        let vars = match self.ctx.eval(v.get("Variables").unwrap_or(&Value::Null)) {
            Ok(Some(Value::Object(m))) => m,
            Ok(_) => Map::new(),
            Err(_) => v
                .get("Variables")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        };
        let mut env = InlineTable::new();
        for (name, raw) in &vars {
            let key = format!("{at}.Variables.{name}");
            if web && web::ADAPTER_ENV.contains(&name.as_str()) {
                continue; // reported by the web mode
            }
            match self.ctx.string(raw) {
                Ok(s) => {
                    env.insert(name, s.into());
                    if self.own_env.contains(name) {
                        self.report.mapped(key, format!("environment.{name}"));
                    }
                }
                // A Globals variable's failure is reported once, at Globals.
                Err(why) if self.own_env.contains(name) => self.report.unsupported(key, why),
                Err(_) => {}
            }
        }
        if !env.is_empty() {
            self.t["environment"] = value(env);
        }
        Ok(())
    }

    fn deployment_preference(&mut self, v: &Value) -> Result<(), String> {
        let at = format!("Resources.{}.Properties.DeploymentPreference", self.id);
        // Only Type and Enabled are evaluated: Alarms name resources ondol does not create.
        let m = v.as_object().ok_or("expected a map")?;
        let enabled = match m.get("Enabled") {
            Some(e) => self.ctx.eval(e)?.and_then(|b| b.as_bool()).unwrap_or(true),
            None => true,
        };
        for k in m
            .keys()
            .filter(|k| !matches!(k.as_str(), "Type" | "Enabled"))
        {
            let why = match k.as_str() {
                "Alarms" => "no CloudWatch alarms: use rollback = { error_rate, p99 } thresholds",
                "Hooks" => {
                    "no CodeDeploy hooks: new versions are warmed (init run) before traffic moves"
                }
                _ => "not a deployment setting ondol has",
            };
            self.report.unsupported(format!("{at}.{k}"), why);
        }
        let ty = self.ctx.string(m.get("Type").ok_or("expected a Type")?)?;
        let strategy = if enabled {
            strategy(&ty)?
        } else {
            "all-at-once".into()
        };
        self.t["strategy"] = value(&strategy);
        self.mapped("DeploymentPreference", format!("strategy = {strategy:?}"));
        Ok(())
    }

    /// `EventInvokeConfig`: retries, event age and Lambda destinations of async
    /// invocations (and schedule firings).
    fn event_invoke(&mut self, v: &Value) -> Result<(), String> {
        let m = v.as_object().ok_or("expected a map")?;
        let mut t = InlineTable::new();
        for (k, x) in m {
            let key = format!("Resources.{}.Properties.EventInvokeConfig.{k}", self.id);
            let r = match k.as_str() {
                "MaximumRetryAttempts" => self.int(x).map(|n| {
                    t.insert("maximum_retry_attempts", n.into());
                }),
                "MaximumEventAgeInSeconds" => self.int(x).map(|n| {
                    t.insert("maximum_event_age", format!("{n}s").into());
                }),
                "DestinationConfig" => self.destinations(x, &mut t),
                _ => Err("not an async setting ondol has".into()),
            };
            match r {
                Ok(()) => self.report.mapped(key, "async"),
                Err(why) => self.report.unsupported(key, why),
            }
        }
        if !t.is_empty() {
            self.t["async"] = value(t);
        }
        Ok(())
    }

    /// `OnSuccess` / `OnFailure` of `Type: Lambda`, named by `!GetAtt Fn.Arn`.
    fn destinations(&self, x: &Value, t: &mut InlineTable) -> Result<(), String> {
        let prefix = format!(
            "arn:aws:lambda:us-east-1:000000000000:function:{}-",
            self.ctx.app
        );
        let mut found = Vec::new();
        for (k, to) in [("OnSuccess", "on_success"), ("OnFailure", "on_failure")] {
            let Some(d) = x.get(k) else { continue };
            if d.get("Type").and_then(Value::as_str) != Some("Lambda") {
                return Err(format!("{k}: only Lambda destinations (a function of this template); SQS, SNS and EventBridge are not modelled"));
            }
            let arn = self
                .ctx
                .string(d.get("Destination").ok_or("expected Destination")?)?;
            let f = arn
                .strip_prefix(&prefix)
                .filter(|f| self.ctx.resources.contains_key(*f));
            let f = f.ok_or_else(|| {
                format!("{k}: expected !GetAtt <Function>.Arn of this template, got {arn}")
            })?;
            found.push((to, f.to_string()));
        }
        // All or nothing: the report names the whole DestinationConfig.
        for (to, f) in found {
            t.insert(to, f.into());
        }
        Ok(())
    }

    fn layers(&mut self, v: &Value) -> Result<(), String> {
        let list = match self.ctx.eval(v)? {
            Some(Value::Array(a)) => a,
            _ => return Err("expected a list of layers".into()),
        };
        let mut arr = Array::new();
        for (i, l) in list.iter().enumerate() {
            let key = format!("Resources.{}.Properties.Layers[{i}]", self.id);
            let s = l.as_str().unwrap_or_default();
            if web::is_adapter_layer(s) {
                continue; // the adapter itself: web mode, reported there
            }
            if self
                .ctx
                .resources
                .get(s)
                .is_some_and(|t| t == "AWS::Serverless::LayerVersion")
            {
                self.report
                    .mapped(key, format!("layers: \"{s}\" ([layers.{s}])"));
            } else {
                self.report.mapped(
                    key,
                    format!("layers: {s} (a layer version published to this server)"),
                );
            }
            arr.push(s);
        }
        if !arr.is_empty() {
            self.t["layers"] = value(arr);
        }
        Ok(())
    }
}

/// A CodeDeploy deployment configuration as ondol's `strategy`.
pub fn strategy(ty: &str) -> Result<String, String> {
    let t = ty
        .trim_start_matches("CodeDeployDefault.")
        .trim_start_matches("Lambda");
    let bad = || {
        format!("{ty}: expected AllAtOnce, Canary<N>Percent<M>Minutes or Linear<N>PercentEvery<M>Minute(s)")
    };
    let minutes = |s: &str| -> Result<u32, String> {
        s.trim_end_matches("Minutes")
            .trim_end_matches("Minute")
            .parse()
            .map_err(|_| bad())
    };
    if t == "AllAtOnce" {
        return Ok("all-at-once".into());
    }
    if let Some(rest) = t.strip_prefix("Canary") {
        let (pct, m) = rest.split_once("Percent").ok_or_else(bad)?;
        return Ok(format!("canary {pct}% {}m", minutes(m)?));
    }
    if let Some(rest) = t.strip_prefix("Linear") {
        let (pct, m) = rest.split_once("PercentEvery").ok_or_else(bad)?;
        return Ok(format!("linear {pct}% every {}m", minutes(m)?));
    }
    Err(bad())
}
