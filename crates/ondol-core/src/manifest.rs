//! `ondol.toml`, the app manifest: parsed strictly (unknown keys refused) and
//! resolved into a [`Deployment`] before anything changes on a server. Every error
//! names the file, the key and what was expected. No I/O: callers read the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::config::{environment, FunctionConfig, Limits, RuntimeKind};
use crate::name::valid_name;

mod auth;
mod build;
mod front;
mod layers;
mod locate;
mod plans;
mod stages;
pub use auth::{Authorizer, JwtAuthorizer, LambdaAuthorizer, RouteAuth, DEFAULT_IDENTITY};
pub use build::Compile;

pub use front::{check_host, check_http, parse_route, Invalid};
pub use layers::{DeployedLayer, LayerDef, LayerUse};
pub use plans::{Quota, QuotaPeriod, UsagePlan};
pub use stages::check_stage_name;
use stages::resolve_stages;

/// A manifest error: `<file>: <key>: <what was expected>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ManifestError {
    pub file: String,
    pub key: String,
    pub message: String,
}

/// A duration written as `"3s"`, `"500ms"`, `"10m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub std::time::Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map(Dur).map_err(|_| {
            serde::de::Error::custom(format!(
                "expected a duration like \"3s\", \"500ms\" or \"10m\", got \"{s}\""
            ))
        })
    }
}

impl Dur {
    /// Milliseconds, saturating: a cast would wrap a huge duration into range.
    pub fn ms(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A size written as `"10MB"`, `"512KB"` or a number of bytes (KB/MB/GB are 1024-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Size(n)),
            Raw::S(s) => parse_size(&s).map(Size).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "expected a size like \"10MB\", \"512KB\" or a number of bytes, got \"{s}\""
                ))
            }),
        }
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "KIB" | "K" => 1024,
        "MB" | "MIB" | "M" => 1024 * 1024,
        "GB" | "GIB" | "G" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `ondol.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub app: String,
    #[serde(default)]
    pub functions: BTreeMap<String, FunctionDef>,
    #[serde(default)]
    pub routes: Vec<RouteDef>,
    #[serde(default)]
    pub http: HttpDef,
    #[serde(default)]
    pub schedules: Vec<ScheduleDef>,
    /// Named stages deployed side by side (`ondol deploy --stage NAME`).
    #[serde(default)]
    pub stages: BTreeMap<String, StageDef>,
    /// The app's own layers, published by `ondol deploy` when their content changes.
    #[serde(default)]
    pub layers: BTreeMap<String, LayerDef>,
    /// `[budget]`: the month's AWS-equivalent cost to warn at (80 % and 100 %).
    pub budget: Option<Budget>,
    /// `[authorizers.NAME]`: what a route's `auth = "NAME"` checks.
    #[serde(default)]
    pub authorizers: BTreeMap<String, auth::AuthorizerDef>,
    /// `[usage_plans.NAME]`: rate, burst and quota per API key.
    #[serde(default)]
    pub usage_plans: BTreeMap<String, plans::UsagePlanDef>,
}

/// `[budget]`: a monthly budget for the app's AWS-equivalent cost (`ondol cost`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// US dollars a month; a warning at 80 % and at 100 %.
    pub monthly_usd: f64,
    /// A function of the app invoked asynchronously (once per threshold and month)
    /// with the budget record as its event; resolved to its deployed name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_function: Option<String>,
}

/// `[stages.NAME]`: how one stage differs from the others.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDef {
    /// Hosts that serve this stage at their root.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Merged over every function's environment.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `stageVariables` in the events of this stage's routes.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Replaces every function's own strategy in this stage.
    pub strategy: Option<String>,
    /// Replaces every function's own rollback thresholds in this stage.
    pub rollback: Option<RollbackDef>,
    /// Per-function settings in this stage (`[stages.prod.functions.hello]`).
    #[serde(default)]
    pub functions: BTreeMap<String, FunctionSettings>,
}

/// The settings of a function that a stage may set differently (the function's own
/// are applied the same way).
#[derive(Debug, Deserialize, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionSettings {
    pub memory_mb: Option<u32>,
    pub timeout: Option<Dur>,
    pub min_warm: Option<u32>,
    pub max_concurrency: Option<u32>,
    pub idle_timeout: Option<Dur>,
    /// Size of `/tmp` in MB (Lambda's EphemeralStorage, 512 to 10,240).
    pub ephemeral_storage_mb: Option<u32>,
    /// `"default"` or `"none"` (no network at all).
    pub network: Option<crate::Network>,
    /// Merged over the function's (and the stage's) environment.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

impl FunctionSettings {
    fn apply(&self, cfg: &mut FunctionConfig) {
        if let Some(m) = self.memory_mb {
            cfg.memory_mb = m;
        }
        if let Some(t) = self.timeout {
            cfg.timeout_ms = t.ms();
        }
        if let Some(v) = self.min_warm {
            cfg.limits.min_warm = v;
        }
        if let Some(v) = self.max_concurrency {
            cfg.limits.max_concurrency = v;
        }
        if let Some(v) = self.idle_timeout {
            cfg.limits.idle_timeout_ms = v.ms();
        }
        if let Some(v) = self.ephemeral_storage_mb {
            cfg.ephemeral_mb = v;
        }
        if let Some(v) = self.network {
            cfg.network = v;
        }
        for (k, v) in &self.environment {
            cfg.environment.insert(k.clone(), v.clone());
        }
    }
}

/// When a traffic shift rolls back.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RollbackDef {
    /// Share of the new version's invocations that may fail, like "5%".
    pub error_rate: Option<String>,
    /// Invocations of the new version before its error rate counts.
    pub min_invocations: Option<u64>,
    /// Highest p99 duration of the new version, like "800ms".
    pub p99: Option<Dur>,
}

/// Resolved rollback thresholds (defaults: 5 % errors over at least 20 invocations,
/// p99 not watched).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollback {
    pub error_rate: f64,
    pub min_invocations: u64,
    pub p99_ms: Option<u64>,
}

impl Default for Rollback {
    fn default() -> Self {
        Self {
            error_rate: 0.05,
            min_invocations: 20,
            p99_ms: None,
        }
    }
}

impl RollbackDef {
    fn resolve(&self) -> Result<Rollback, (&'static str, String)> {
        let mut r = Rollback::default();
        if let Some(e) = &self.error_rate {
            r.error_rate = e
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .filter(|n| *n > 0.0 && *n <= 100.0)
                .map(|n| n / 100.0)
                .ok_or_else(|| {
                    (
                        "error_rate",
                        format!("expected a share like \"5%\", got \"{e}\""),
                    )
                })?;
        }
        if let Some(n) = self.min_invocations {
            if n == 0 {
                return Err(("min_invocations", "expected at least 1".into()));
            }
            r.min_invocations = n;
        }
        r.p99_ms = self.p99.map(|d| d.ms().max(1));
        Ok(r)
    }
}

/// A resolved stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stage {
    pub hosts: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub variables: BTreeMap<String, String>,
    pub strategy: Option<Strategy>,
    pub rollback: Option<Rollback>,
    /// Function key → its settings in this stage.
    pub functions: BTreeMap<String, FunctionSettings>,
}

/// The stage served at the root of every host.
pub const DEFAULT_STAGE: &str = "$default";

/// The alias a stage's deploys move on each function: `live` for `$default`, else
/// the stage's name.
pub fn stage_alias(stage: &str) -> String {
    if stage == DEFAULT_STAGE {
        "live".into()
    } else {
        stage.to_string()
    }
}

fn default_stage() -> String {
    DEFAULT_STAGE.into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDef {
    pub name: String,
    pub function: String,
    pub expression: String,
    pub timezone: Option<String>,
    pub input: Option<toml::Value>,
    pub catch_up: Option<String>,
    pub overlap: Option<String>,
}

/// A schedule: each firing is an async invocation of `function`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Unique within the app.
    pub name: String,
    /// The Lambda function name (`<app>-<function>`).
    pub function: String,
    /// `cron(…)` (AWS's 6 fields), `rate(…)` or a 5-field cron line.
    pub expression: String,
    /// IANA time zone for cron expressions (default `UTC`).
    pub timezone: String,
    /// The event sent; `None` sends EventBridge's Scheduled Event.
    pub input: Option<serde_json::Value>,
    /// The alias invoked (the stage's).
    #[serde(default)]
    pub qualifier: Option<String>,
    /// After downtime: `none` | `last` | `all` (default `none`).
    pub catch_up: String,
    /// `allow` | `skip` while the previous run is still going (default `allow`).
    pub overlap: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionDef {
    pub runtime: String,
    pub handler: Option<String>,
    pub code: String,
    pub description: Option<String>,
    pub memory_mb: Option<u32>,
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    pub command: Option<Vec<String>>,
    pub min_warm: Option<u32>,
    pub max_concurrency: Option<u32>,
    pub idle_timeout: Option<Dur>,
    pub ephemeral_storage_mb: Option<u32>,
    pub network: Option<crate::Network>,
    pub init_timeout: Option<Dur>,
    /// An init running longer is reported in the log with where it is.
    pub slow_init: Option<Dur>,
    pub max_request_bytes: Option<Size>,
    pub max_response_bytes: Option<Size>,
    pub queue_depth: Option<u32>,
    pub queue_wait: Option<Dur>,
    pub readiness_path: Option<String>,
    pub instance_concurrency: Option<u32>,
    /// Async invocations: retries and destinations.
    #[serde(rename = "async")]
    pub async_: Option<AsyncDef>,
    /// How a deploy moves traffic: "all-at-once" (default), "canary 10% 5m",
    /// "linear 10% every 1m".
    pub strategy: Option<String>,
    /// When a traffic shift rolls back (default: 5 % errors over 20 invocations).
    pub rollback: Option<RollbackDef>,
    /// Layers merged in order at `/opt`: `[layers.NAME]` names or layer version ARNs.
    #[serde(default)]
    pub layers: Vec<String>,
    /// TypeScript compiled at deploy by the project's own `tsc` or `esbuild`.
    pub compile: Option<Compile>,
    /// More paths not shipped (gitignore lines after `.ondolignore`; default none).
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// How a deploy shifts traffic to a new version.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    AllAtOnce,
    /// `share` of traffic for `wait`, then all of it.
    Canary {
        share: f64,
        wait: std::time::Duration,
    },
    /// `step` more every `every`, until all of it.
    Linear {
        step: f64,
        every: std::time::Duration,
    },
}

impl Strategy {
    /// Parses "all-at-once", "canary 10% 5m" or "linear 10% every 1m".
    pub fn parse(s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let pct = |w: &str| -> Result<f64, String> {
            w.strip_suffix('%')
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|n| *n > 0.0 && *n < 100.0)
                .map(|n| n / 100.0)
                .ok_or_else(|| format!("expected a share like 10%, got \"{w}\""))
        };
        let dur = |w: &str| {
            humantime::parse_duration(w)
                .map_err(|_| format!("expected a duration like 5m, got \"{w}\""))
        };
        match words.as_slice() {
            ["all-at-once"] => Ok(Self::AllAtOnce),
            ["canary", p, d] => Ok(Self::Canary { share: pct(p)?, wait: dur(d)? }),
            ["linear", p, "every", d] => Ok(Self::Linear { step: pct(p)?, every: dur(d)? }),
            _ => Err(format!("expected \"all-at-once\", \"canary 10% 5m\" or \"linear 10% every 1m\", got \"{s}\"")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncDef {
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age: Option<Dur>,
    /// A function of this app that receives a record of each success.
    pub on_success: Option<String>,
    /// A function of this app that receives a record of each final failure
    /// (default: ondol's dead-letter store).
    pub on_failure: Option<String>,
}

/// Resolved async settings; destinations are Lambda function names.
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncSpec {
    pub maximum_retry_attempts: u32,
    pub maximum_event_age_s: u64,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitDef {
    pub rps: f64,
    pub burst: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDef {
    pub route: String,
    pub function: String,
    pub payload: Option<String>,
    pub host: Option<String>,
    pub timeout: Option<Dur>,
    pub rate_limit: Option<RateLimitDef>,
    /// An `[authorizers.NAME]` every request must pass.
    pub auth: Option<String>,
    /// With a JWT `auth`: scopes the token must all carry.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Requests need a valid `x-api-key` (default: `[http].api_key_required`).
    pub api_key_required: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HttpDef {
    pub cors: Option<Cors>,
    pub max_request_body: Option<Size>,
    /// Every route needs a valid `x-api-key` unless it says otherwise (default false).
    #[serde(default)]
    pub api_key_required: bool,
}

/// CORS for every route of the app.
#[derive(Debug, Deserialize, Serialize, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    #[serde(default)]
    pub allow_origins: Vec<String>,
    #[serde(default)]
    pub allow_methods: Vec<String>,
    #[serde(default)]
    pub allow_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
    #[serde(default)]
    pub allow_credentials: bool,
}

/// A validated app, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// The manifest file it was read from, as errors name it.
    pub file: String,
    pub app: String,
    pub functions: Vec<DeployedFunction>,
    pub http: AppHttp,
    /// The stages declared in the manifest (`$default` needs no declaration).
    pub stages: BTreeMap<String, Stage>,
    /// The app's own layers.
    pub layers: Vec<DeployedLayer>,
}

/// One function: its configuration (named `<app>-<function>`) and code directory.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedFunction {
    /// The name in the manifest.
    pub key: String,
    pub config: FunctionConfig,
    pub code_dir: PathBuf,
    pub async_config: Option<AsyncSpec>,
    pub strategy: Strategy,
    pub rollback: Rollback,
    /// Its layers, in order (resolved to version ARNs by the deploy).
    pub layers: Vec<LayerUse>,
    /// How its TypeScript is compiled before packaging.
    pub compile: Option<Compile>,
    /// Gitignore lines applied after `.ondolignore` when packaging.
    pub exclude: Vec<String>,
}

/// What the HTTP front door serves for one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppHttp {
    pub app: String,
    /// Served at `/<stage>/…` and at the root of `hosts`; `$default` at the root.
    #[serde(default = "default_stage")]
    pub stage: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    /// `stageVariables` in events.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    pub routes: Vec<Route>,
    pub cors: Option<Cors>,
    /// Largest request body (default 10 MB).
    pub max_request_body: u64,
    /// The app's schedules (kept with its HTTP side: one record per app).
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// The app's monthly budget (sent with its HTTP side, like its routes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// The app's authorizers, by name (routes name them in `auth`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorizers: BTreeMap<String, Authorizer>,
    /// The app's usage plans, by name (API keys name one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub usage_plans: BTreeMap<String, UsagePlan>,
}

/// Payload format of the event a route sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadFormat {
    /// HTTP API (default).
    V2,
    /// REST API.
    V1,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// `GET /items/{id}`, `ANY /site/{proxy+}` or `$default`, as written.
    pub key: String,
    /// `None` for ANY (and `$default`).
    pub method: Option<String>,
    /// The path pattern; `None` for `$default`.
    pub path: Option<String>,
    pub host: Option<String>,
    /// The Lambda function name (`<app>-<function>`).
    pub function: String,
    /// The alias or version served (`None`: `$LATEST`). `ondol deploy` points routes
    /// at the alias it moves after warming the new version.
    #[serde(default)]
    pub qualifier: Option<String>,
    pub payload: PayloadFormat,
    /// Integration timeout in ms; `None` means the function's own timeout.
    pub timeout_ms: Option<u64>,
    pub rate_limit: Option<RateLimit>,
    /// The authorizer every request must pass, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RouteAuth>,
    /// Requests need a valid `x-api-key` (403 without).
    #[serde(default)]
    pub api_key_required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub rps: f64,
    pub burst: u32,
}

/// A Function URL as the front door serves it (payload 2.0, route key `$default`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlRoute {
    pub url_id: String,
    pub function: String,
    pub qualifier: Option<String>,
    pub cors: Option<Cors>,
    /// `NONE` or `AWS_IAM`; the front door refuses `AWS_IAM` URLs (it does not
    /// verify IAM signatures), so nothing meant to be private is served openly.
    #[serde(default)]
    pub auth_type: String,
}

/// Receives, whole, what the HTTP front door must serve after every change.
pub trait FrontDoor: Send + Sync + 'static {
    /// Whether these would compile into one route table (no clashing routes).
    fn check(&self, apps: &[AppHttp], urls: &[UrlRoute]) -> Result<(), String>;
    fn serve(&self, apps: Vec<AppHttp>, urls: Vec<UrlRoute>);
}

pub const DEFAULT_MAX_REQUEST_BODY: u64 = 10 * 1024 * 1024;

impl Manifest {
    /// Parses manifest text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ManifestError> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let mut message = inner.message().to_string();
            if let Some(span) = inner.span() {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                message = format!("{message} (line {line})");
            }
            ManifestError {
                file: file.to_string(),
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message,
            }
        })
    }

    /// Parses and resolves manifest text; a resolve error also gives the line of
    /// its key (or of the nearest written parent).
    pub fn load(text: &str, base: &Path, file: &str) -> Result<Deployment, ManifestError> {
        Self::parse(text, file)?
            .resolve(base, file)
            .map_err(|mut e| {
                if let Some(line) = locate::line_of(text, &e.key) {
                    e.message = format!("{} (line {line})", e.message);
                }
                e
            })
    }

    /// Validates and resolves against `base` (the manifest's directory).
    pub fn resolve(self, base: &Path, file: &str) -> Result<Deployment, ManifestError> {
        let err = |key: String, message: String| ManifestError {
            file: file.to_string(),
            key,
            message,
        };
        if !valid_name(&self.app) || self.app.len() > 32 {
            return Err(err(
                "app".into(),
                format!(
                    "expected 1 to 32 characters of [a-zA-Z0-9-_], got \"{}\"",
                    self.app
                ),
            ));
        }
        let layers = layers::resolve_layers(self.layers, &self.app, base, file)?;
        let mut functions: Vec<DeployedFunction> = Vec::new();
        let mut pending_async = Vec::new();
        for (key, f) in self.functions {
            let at = |k: &str| format!("functions.{key}.{k}");
            let name = format!("{}-{key}", self.app);
            if !valid_name(&key) || !valid_name(&name) {
                return Err(err(format!("functions.{key}"), "expected a function name of [a-zA-Z0-9-_] (at most 64 characters with the app name)".into()));
            }
            let kind = RuntimeKind::of(&f.runtime).ok_or_else(|| {
                err(at("runtime"), format!("expected python3.*, nodejs*, provided, provided.al2, provided.al2023 or web, got \"{}\"", f.runtime))
            })?;
            check_function(&f).map_err(|(k, m)| err(at(k), m))?;
            if let Some(c) = &f.compile {
                c.check(&f.runtime).map_err(|(k, m)| err(at(&k), m))?;
            }
            let mut cfg = FunctionConfig::new(name, f.runtime.clone());
            cfg.handler = f.handler.unwrap_or_default();
            cfg.description = f.description.unwrap_or_default();
            cfg.command = f.command;
            FunctionSettings {
                memory_mb: f.memory_mb,
                timeout: f.timeout,
                min_warm: f.min_warm,
                max_concurrency: f.max_concurrency,
                idle_timeout: f.idle_timeout,
                ephemeral_storage_mb: f.ephemeral_storage_mb,
                network: f.network,
                environment: f.environment,
            }
            .apply(&mut cfg);
            let l: &mut Limits = &mut cfg.limits;
            let ms = Dur::ms;
            if let Some(v) = f.init_timeout {
                l.init_timeout_ms = ms(v);
            }
            if let Some(v) = f.slow_init {
                l.slow_init_ms = ms(v);
            }
            if let Some(v) = f.max_request_bytes {
                l.max_request_bytes = v.0;
            }
            if let Some(v) = f.max_response_bytes {
                l.max_response_bytes = v.0;
            }
            if let Some(v) = f.queue_depth {
                l.queue_depth = v;
            }
            if let Some(v) = f.queue_wait {
                l.queue_wait_ms = ms(v);
            }
            if kind == RuntimeKind::Web {
                if cfg.command.as_ref().is_none_or(Vec::is_empty) {
                    return Err(err(at("command"), "expected the command that starts the web server (it gets its port in $PORT)".into()));
                }
                cfg.web = Some(crate::config::WebOptions {
                    readiness_path: f.readiness_path.unwrap_or_else(|| "/".into()),
                    instance_concurrency: f.instance_concurrency.unwrap_or(8).max(1),
                });
            } else if f.readiness_path.is_some() || f.instance_concurrency.is_some() {
                let k = if f.readiness_path.is_some() {
                    "readiness_path"
                } else {
                    "instance_concurrency"
                };
                return Err(err(at(k), "only applies to runtime = \"web\"".into()));
            }
            cfg.validate()
                .map_err(|m| err(format!("functions.{key}"), m))?;
            if f.code.is_empty()
                || Path::new(&f.code).is_absolute()
                || f.code.split('/').any(|c| c == "..")
            {
                return Err(err(
                    at("code"),
                    format!("expected a directory inside the app, got \"{}\"", f.code),
                ));
            }
            let strategy = match &f.strategy {
                None => Strategy::AllAtOnce,
                Some(st) => Strategy::parse(st).map_err(|m| err(at("strategy"), m))?,
            };
            let rollback = match &f.rollback {
                None => Rollback::default(),
                Some(r) => r
                    .resolve()
                    .map_err(|(k, m)| err(at(&format!("rollback.{k}")), m))?,
            };
            let uses = layers::resolve_uses(&f.layers, &layers, &key, file)?;
            functions.push(DeployedFunction {
                layers: uses,
                compile: f.compile,
                exclude: f.exclude,
                key,
                config: cfg,
                code_dir: base.join(&f.code),
                async_config: None,
                strategy,
                rollback,
            });
            if let Some(a) = f.async_ {
                pending_async.push((functions.len() - 1, a));
            }
        }
        // Destinations name functions of this file: resolved once all are known.
        for (idx, a) in pending_async {
            let key = functions[idx].key.clone();
            let err = |k: &str, m: String| ManifestError {
                file: file.to_string(),
                key: format!("functions.{key}.async.{k}"),
                message: m,
            };
            let dest = |k: &str, v: Option<String>| -> Result<Option<String>, ManifestError> {
                match v {
                    None => Ok(None),
                    Some(v) => functions
                        .iter()
                        .find(|f| f.key == v)
                        .map(|f| Some(f.config.name.clone()))
                        .ok_or_else(|| err(k, format!("expected one of the functions defined in this file, got \"{v}\""))),
                }
            };
            let retries = a.maximum_retry_attempts.unwrap_or(2);
            if retries > 2 {
                return Err(err(
                    "maximum_retry_attempts",
                    format!("expected 0 to 2, got {retries}"),
                ));
            }
            let age = a.maximum_event_age.map_or(6 * 3600, |d| d.0.as_secs());
            if !(60..=21_600).contains(&age) {
                return Err(err(
                    "maximum_event_age",
                    format!("expected between 1m and 6h, got {age}s"),
                ));
            }
            let spec = AsyncSpec {
                maximum_retry_attempts: retries,
                maximum_event_age_s: age,
                on_success: dest("on_success", a.on_success)?,
                on_failure: dest("on_failure", a.on_failure)?,
            };
            functions[idx].async_config = Some(spec);
        }
        let authorizers = auth::resolve_authorizers(self.authorizers, &functions, file)?;
        let mut routes = Vec::new();
        for (i, r) in self.routes.into_iter().enumerate() {
            let at = |k: &str| format!("routes[{i}].{k}");
            let (method, path) = parse_route(&r.route).map_err(|m| err(at("route"), m))?;
            let Some(f) = functions.iter().find(|f| f.key == r.function) else {
                return Err(err(
                    at("function"),
                    format!(
                        "expected one of the functions defined in this file, got \"{}\"",
                        r.function
                    ),
                ));
            };
            let payload = match r.payload.as_deref() {
                None | Some("2.0") => PayloadFormat::V2,
                Some("1.0") => PayloadFormat::V1,
                Some(other) => {
                    return Err(err(
                        at("payload"),
                        format!("expected \"2.0\" or \"1.0\", got \"{other}\""),
                    ))
                }
            };
            if f.config.web.is_some() && r.payload.is_some() {
                return Err(err(
                    at("payload"),
                    "a web function receives plain HTTP, not an event: remove payload".into(),
                ));
            }
            let rate_limit = match r.rate_limit {
                Some(rl) if rl.rps.is_nan() || rl.rps <= 0.0 => {
                    return Err(err(
                        at("rate_limit.rps"),
                        "expected a number of requests per second above 0".into(),
                    ))
                }
                Some(rl) => Some(RateLimit {
                    rps: rl.rps,
                    burst: rl.burst.unwrap_or(rl.rps.ceil() as u32).max(1),
                }),
                None => None,
            };
            routes.push(Route {
                key: r.route.trim().to_string(),
                method,
                path,
                host: r.host.map(|h| h.to_ascii_lowercase()),
                function: f.config.name.clone(),
                qualifier: None,
                payload,
                timeout_ms: r.timeout.map(Dur::ms),
                rate_limit,
                auth: r.auth.map(|authorizer| RouteAuth {
                    authorizer,
                    scopes: r.scopes,
                }),
                api_key_required: r.api_key_required.unwrap_or(self.http.api_key_required),
            });
        }
        let schedules = resolve_schedules(self.schedules, &functions, file)?;
        let stages = resolve_stages(self.stages, &functions, file)?;
        let budget =
            resolve_budget(self.budget, &functions).map_err(|(k, m)| err(k.to_string(), m))?;
        let usage_plans = plans::resolve_plans(self.usage_plans).map_err(|(k, m)| err(k, m))?;
        let http = AppHttp {
            app: self.app.clone(),
            stage: DEFAULT_STAGE.into(),
            hosts: Vec::new(),
            variables: BTreeMap::new(),
            routes,
            cors: self.http.cors,
            max_request_body: self
                .http
                .max_request_body
                .map_or(DEFAULT_MAX_REQUEST_BODY, |s| s.0),
            schedules,
            budget,
            authorizers,
            usage_plans,
        };
        check_http(&http).map_err(|e| err(e.key, e.message))?;
        Ok(Deployment {
            file: file.to_string(),
            app: self.app.clone(),
            functions,
            stages,
            http,
            layers,
        })
    }
}

/// A positive budget whose alert function, if any, is one of the app's.
fn resolve_budget(
    b: Option<Budget>,
    functions: &[DeployedFunction],
) -> Result<Option<Budget>, (&'static str, String)> {
    let Some(mut b) = b else { return Ok(None) };
    if !(b.monthly_usd > 0.0 && b.monthly_usd.is_finite()) {
        return Err((
            "budget.monthly_usd",
            format!("expected an amount above 0, got {}", b.monthly_usd),
        ));
    }
    if let Some(key) = &b.alert_function {
        let f = functions.iter().find(|f| &f.key == key).ok_or_else(|| {
            (
                "budget.alert_function",
                format!("expected one of the app's functions, got {key:?}"),
            )
        })?;
        b.alert_function = Some(f.config.name.clone());
    }
    Ok(Some(b))
}

/// What a function's own keys must hold beyond the configuration's rules, named by
/// the manifest's keys (the configuration's messages use the API's names).
fn check_function(f: &FunctionDef) -> Result<(), (&'static str, String)> {
    environment::check(&f.environment).map_err(|m| ("environment", m))?;
    build::check_exclude(&f.exclude).map_err(|m| ("exclude", m))?;
    if f.slow_init.is_some_and(|d| d.0.is_zero()) {
        return Err((
            "slow_init",
            "expected a duration above 0 (every init would be reported)".into(),
        ));
    }
    if f.init_timeout.is_some_and(|d| d.0.is_zero()) {
        return Err((
            "init_timeout",
            "expected a duration above 0 (no instance starts in 0 s)".into(),
        ));
    }
    for (k, v) in [
        ("max_request_bytes", f.max_request_bytes),
        ("max_response_bytes", f.max_response_bytes),
    ] {
        if v.is_some_and(|s| s.0 == 0) {
            return Err((
                k,
                "expected a size above 0 (0 refuses every payload)".into(),
            ));
        }
    }
    Ok(())
}

impl Deployment {
    /// This deployment as stage `stage` serves it: the stage's environment merged
    /// over each function's, its strategy and thresholds, and every route and
    /// schedule pointed at the stage's alias. A named stage must be declared.
    pub fn for_stage(&self, stage: &str) -> Result<Deployment, String> {
        let spec = match self.stages.get(stage) {
            Some(s) => s.clone(),
            None if stage == DEFAULT_STAGE => Stage::default(),
            None => {
                let declared: Vec<&str> = self.stages.keys().map(String::as_str).collect();
                return Err(format!(
                    "stage {stage} is not declared: add [stages.{stage}] to ondol.toml (declared: {})",
                    if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
                ));
            }
        };
        let alias = stage_alias(stage);
        let mut d = self.clone();
        for f in &mut d.functions {
            for (k, v) in &spec.environment {
                f.config.environment.insert(k.clone(), v.clone());
            }
            if let Some(o) = spec.functions.get(&f.key) {
                o.apply(&mut f.config);
            }
            if let Some(s) = spec.strategy {
                f.strategy = s;
            }
            if let Some(r) = spec.rollback {
                f.rollback = r;
            }
        }
        d.http.stage = stage.to_string();
        d.http.hosts = spec.hosts;
        d.http.variables = spec.variables;
        for r in &mut d.http.routes {
            r.qualifier = Some(alias.clone());
        }
        for s in &mut d.http.schedules {
            s.qualifier = Some(alias.clone());
        }
        auth::set_qualifier(&mut d.http.authorizers, &alias);
        Ok(d)
    }
}

/// Checks `[[schedules]]` (their expressions are checked where they are computed,
/// by the server, before anything is applied).
fn resolve_schedules(
    defs: Vec<ScheduleDef>,
    functions: &[DeployedFunction],
    file: &str,
) -> Result<Vec<Schedule>, ManifestError> {
    let mut schedules: Vec<Schedule> = Vec::new();
    for (i, sd) in defs.into_iter().enumerate() {
        let err = |k: &str, message: String| ManifestError {
            file: file.to_string(),
            key: format!("schedules[{i}].{k}"),
            message,
        };
        if !valid_name(&sd.name) || schedules.iter().any(|s| s.name == sd.name) {
            return Err(err(
                "name",
                format!(
                    "expected a unique name of [a-zA-Z0-9-_], got \"{}\"",
                    sd.name
                ),
            ));
        }
        let Some(f) = functions.iter().find(|f| f.key == sd.function) else {
            return Err(err(
                "function",
                format!(
                    "expected one of the functions defined in this file, got \"{}\"",
                    sd.function
                ),
            ));
        };
        let pick = |k: &str, v: Option<String>, allowed: &[&str]| match v {
            None => Ok(allowed[0].to_string()),
            Some(v) if allowed.contains(&v.as_str()) => Ok(v),
            Some(v) => Err(err(k, format!("expected one of {allowed:?}, got \"{v}\""))),
        };
        let input = match sd.input {
            None => None,
            Some(v) => Some(serde_json::to_value(v).map_err(|e| err("input", e.to_string()))?),
        };
        schedules.push(Schedule {
            name: sd.name,
            function: f.config.name.clone(),
            expression: sd.expression,
            timezone: sd.timezone.unwrap_or_else(|| "UTC".into()),
            input,
            qualifier: None,
            catch_up: pick("catch_up", sd.catch_up, &["none", "last", "all"])?,
            overlap: pick("overlap", sd.overlap, &["allow", "skip"])?,
        });
    }
    Ok(schedules)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
app = "shop"

[functions.hello]
runtime = "python3.11"
handler = "app.handler"
code = "hello"
memory_mb = 256
timeout = "3s"
environment = { GREETING = "hi" }
max_request_bytes = "1MB"
slow_init = "500ms"

[functions.site]
runtime = "web"
code = "site"
command = ["python3", "-m", "flask", "run", "--port", "$PORT"]
readiness_path = "/healthz"
instance_concurrency = 8

[[routes]]
route = "GET /hello/{name}"
function = "hello"
payload = "1.0"
timeout = "60s"
rate_limit = { rps = 100, burst = 200 }

[[routes]]
route = "ANY /site/{proxy+}"
function = "site"

[http]
cors = { allow_origins = ["*"], allow_methods = ["*"], max_age = 600 }
max_request_body = "10MB"
"#;

    fn resolve(text: &str) -> Result<Deployment, ManifestError> {
        Manifest::parse(text, "ondol.toml")?.resolve(Path::new("/app"), "ondol.toml")
    }

    #[test]
    fn resolves_the_example() {
        let d = resolve(GOOD).unwrap();
        assert_eq!(d.app, "shop");
        let hello = &d.functions[0];
        assert_eq!(hello.config.name, "shop-hello");
        assert_eq!(hello.config.memory_mb, 256);
        assert_eq!(hello.config.limits.max_request_bytes, 1024 * 1024);
        assert_eq!(hello.config.limits.slow_init_ms, 500);
        assert_eq!(
            d.functions[1].config.limits.slow_init_ms, 2000,
            "the default"
        );
        assert_eq!(hello.code_dir, Path::new("/app/hello"));
        let site = &d.functions[1];
        assert_eq!(site.config.web.as_ref().unwrap().instance_concurrency, 8);
        let r = &d.http.routes[0];
        assert_eq!(
            (r.method.as_deref(), r.path.as_deref()),
            (Some("GET"), Some("/hello/{name}"))
        );
        assert_eq!(r.payload, PayloadFormat::V1);
        assert_eq!(r.timeout_ms, Some(60_000));
        assert_eq!(
            r.rate_limit,
            Some(RateLimit {
                rps: 100.0,
                burst: 200
            })
        );
        assert_eq!(d.http.routes[1].method, None);
        assert_eq!(d.http.max_request_body, 10 * 1024 * 1024);
    }

    fn error(text: &str) -> String {
        resolve(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_file_key_and_expectation() {
        let e = error(&GOOD.replace("memory_mb = 256", "memroy_mb = 256"));
        assert!(
            e.starts_with("ondol.toml: functions.hello.memroy_mb: unknown field `memroy_mb`"),
            "{e}"
        );
        let e = error(&GOOD.replace("timeout = \"3s\"", "timeout = \"soon\""));
        assert!(
            e.starts_with("ondol.toml: functions.hello.timeout: expected a duration"),
            "{e}"
        );
        let e = error(&GOOD.replace("runtime = \"python3.11\"", "runtime = \"cobol\""));
        assert!(
            e.starts_with("ondol.toml: functions.hello.runtime: expected python3.*"),
            "{e}"
        );
        let e = error(&GOOD.replace("function = \"hello\"", "function = \"nope\""));
        assert!(
            e.starts_with("ondol.toml: routes[0].function: expected one of the functions"),
            "{e}"
        );
        let e = error(&GOOD.replace("GET /hello/{name}", "FETCH /hello"));
        assert!(
            e.starts_with("ondol.toml: routes[0].route: expected a method"),
            "{e}"
        );
        let e = error(&GOOD.replace("ANY /site/{proxy+}", "ANY /site/{proxy+}/x"));
        assert!(
            e.contains("routes[1].route") && e.contains("last segment"),
            "{e}"
        );
        let e = error(&GOOD.replace("payload = \"1.0\"", "payload = \"3.0\""));
        assert!(
            e.starts_with("ondol.toml: routes[0].payload: expected \"2.0\" or \"1.0\""),
            "{e}"
        );
        let e = error(&GOOD.replace("memory_mb = 256", "memory_mb = 64"));
        assert!(
            e.starts_with("ondol.toml: functions.hello: MemorySize 64"),
            "{e}"
        );
        let e = error(&GOOD.replace("max_request_body = \"10MB\"", "max_request_body = \"lots\""));
        assert!(
            e.starts_with("ondol.toml: http.max_request_body: expected a size"),
            "{e}"
        );
        let e = error("app = 3");
        assert!(e.starts_with("ondol.toml: app: invalid type"), "{e}");
        let e = error(&GOOD.replace("code = \"hello\"", "code = \"../elsewhere\""));
        assert!(
            e.starts_with("ondol.toml: functions.hello.code: expected a directory inside the app"),
            "{e}"
        );
    }

    #[test]
    fn refuses_what_can_never_work() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "environment = { GREETING = \"hi\" }",
                "environment = { \"A=B\" = \"1\" }",
                "functions.hello.environment: 1 validation error",
            ),
            (
                "environment = { GREETING = \"hi\" }",
                "environment = { \"\" = \"1\" }",
                "functions.hello.environment: ",
            ),
            (
                "environment = { GREETING = \"hi\" }",
                "environment = { AWS_LAMBDA_RUNTIME_API = \"x\" }",
                "functions.hello.environment: Lambda was unable",
            ),
            (
                "environment = { GREETING = \"hi\" }",
                "environment = { GREETING = \"a\\u0000b\" }",
                "functions.hello.environment: Environment.Variables.GREETING",
            ),
            (
                "max_request_bytes = \"1MB\"",
                "max_request_bytes = \"0\"",
                "functions.hello.max_request_bytes: expected a size above 0",
            ),
            (
                "max_request_bytes = \"1MB\"",
                "max_response_bytes = 0",
                "functions.hello.max_response_bytes: expected a size above 0",
            ),
            (
                "max_request_bytes = \"1MB\"",
                "init_timeout = \"0s\"",
                "functions.hello.init_timeout: expected a duration above 0",
            ),
            (
                "slow_init = \"500ms\"",
                "slow_init = \"0s\"",
                "functions.hello.slow_init: expected a duration above 0",
            ),
            (
                "payload = \"1.0\"",
                "payload = \"1.0\"\nhost = \"\"",
                "routes[0].host: expected a host name",
            ),
            (
                "payload = \"1.0\"",
                "payload = \"1.0\"\nhost = \"not a host!\"",
                "routes[0].host: expected a host name",
            ),
            (
                "GET /hello/{name}",
                "GET /a?x=1",
                "routes[0].route: expected a path without a query",
            ),
            (
                "GET /hello/{name}",
                "GET /{x}/{x}",
                "routes[0].route: parameter {x} appears twice",
            ),
            (
                "max_request_body = \"10MB\"",
                "max_request_body = 0",
                "http.max_request_body: expected a size above 0",
            ),
            (
                "allow_origins = [\"*\"]",
                "allow_origins = [\"a\\r\\nb\"]",
                "http.cors.allow_origins[0]: ",
            ),
            (
                "[http]",
                "[stages.prod]\nhosts = [\"not a host!\"]\n[http]",
                "stages.prod.hosts: expected a host name",
            ),
            (
                "[http]",
                "[stages.prod]\nenvironment = { _HANDLER = \"x\" }\n[http]",
                "stages.prod.environment: Lambda was unable",
            ),
            (
                "[http]",
                "[stages.prod.functions.hello]\nmemory_mb = 1\n[http]",
                "stages.prod.functions.hello: MemorySize 1",
            ),
        ];
        for (from, to, want) in cases {
            assert!(GOOD.contains(from), "{from}");
            let e = error(&GOOD.replacen(from, to, 1));
            assert!(e.starts_with(&format!("ondol.toml: {want}")), "{to}: {e}");
        }
        let twice = GOOD.replace("ANY /site/{proxy+}", "get /hello/{name}");
        let e = error(&twice);
        assert!(
            e.starts_with("ondol.toml: routes[1].route: \"get /hello/{name}\" is defined twice"),
            "{e}"
        );
    }

    #[test]
    fn strategies() {
        use std::time::Duration;
        assert_eq!(Strategy::parse("all-at-once"), Ok(Strategy::AllAtOnce));
        assert_eq!(
            Strategy::parse("canary 10% 5m"),
            Ok(Strategy::Canary {
                share: 0.1,
                wait: Duration::from_secs(300)
            })
        );
        assert_eq!(
            Strategy::parse("linear 25% every 30s"),
            Ok(Strategy::Linear {
                step: 0.25,
                every: Duration::from_secs(30)
            })
        );
        assert!(Strategy::parse("canary 0% 5m").is_err());
        assert!(Strategy::parse("blue-green").is_err());
    }

    #[test]
    fn huge_durations_do_not_wrap_into_range() {
        // 2^64 ms + 3 s would be 3 s after a plain cast.
        let d = Dur(std::time::Duration::from_millis(u64::MAX) + std::time::Duration::from_secs(3));
        assert_eq!(d.ms(), u64::MAX);
        let e = error(&GOOD.replace("timeout = \"3s\"", "timeout = \"584942417y 130d\""));
        assert!(
            e.contains("functions.hello") && e.contains("Timeout"),
            "{e}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB"), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("512 KB"), Some(512 * 1024));
        assert_eq!(parse_size("7"), Some(7));
        assert_eq!(parse_size("x"), None);
    }
}
