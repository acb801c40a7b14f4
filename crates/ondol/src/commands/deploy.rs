//! `ondol deploy [DIR]`: resolves `ondol.toml` (a bad manifest changes nothing),
//! packages each function, uploads only code whose hash changed, applies
//! configuration and routes, and prints the URLs.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode};
use ondol_core::manifest::{DeployedFunction, Deployment, Manifest, Strategy};
use serde_json::{json, Value};

use super::release::{self, Switch, LIVE};
use crate::client::{self, DEFAULT_ENDPOINT};
use crate::package::package;

#[derive(clap::Args)]
pub struct Args {
    /// The app directory (holding ondol.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    /// Print one JSON object with the result (for CI) instead of progress lines.
    #[arg(long)]
    json: bool,
}

/// Reads and resolves `dir/ondol.toml`; every error names the file and key.
pub fn load(dir: &Path) -> Result<Deployment> {
    let path = dir.join("ondol.toml");
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {file}"))?;
    let base =
        std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let d = Manifest::parse(&text, &file)?.resolve(&base, &file)?;
    for f in &d.functions {
        if !f.code_dir.is_dir() {
            bail!(
                "{file}: functions.{}.code: expected a directory, but {} is not one",
                f.key,
                f.code_dir.display()
            );
        }
    }
    Ok(d)
}

/// Progress on a terminal, plain lines otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    begun: Instant,
    quiet: bool,
}

impl Progress {
    /// No output at all (the caller prints a result of its own).
    pub fn quiet() -> Self {
        Self {
            bar: None,
            begun: Instant::now(),
            quiet: true,
        }
    }

    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(80));
            b
        });
        Self {
            bar,
            begun: Instant::now(),
            quiet: false,
        }
    }

    pub fn step(&self, msg: String) {
        if let Some(b) = &self.bar {
            b.set_message(msg);
        }
    }

    /// A result line, kept on screen.
    pub fn done(&self, msg: String) {
        if self.quiet {
            return;
        }
        let line = format!(
            "{msg} ({:.0} ms)",
            self.begun.elapsed().as_secs_f64() * 1000.0
        );
        match &self.bar {
            Some(b) => b.println(line),
            None => println!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

pub async fn call(
    endpoint: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value)> {
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let r = client::call(method, &url, &[], bytes).await?;
    if !r.status.is_success() && r.status != StatusCode::NOT_FOUND {
        bail!("{path}: {}", client::error_message(&r));
    }
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    Ok((r.status, v))
}

/// The CreateFunction/UpdateFunctionConfiguration members for a function.
fn config_json(f: &DeployedFunction) -> Value {
    let c = &f.config;
    let l = &c.limits;
    let mut ondol = json!({
        "MaxConcurrency": l.max_concurrency, "MinWarm": l.min_warm, "IdleTimeoutMs": l.idle_timeout_ms,
        "InitTimeoutMs": l.init_timeout_ms, "MaxRequestBytes": l.max_request_bytes,
        "MaxResponseBytes": l.max_response_bytes, "QueueDepth": l.queue_depth,
        "QueueWaitMs": l.queue_wait_ms, "TimeoutMs": c.timeout_ms,
    });
    if let Some(w) = &c.web {
        ondol["ReadinessPath"] = w.readiness_path.clone().into();
        ondol["InstanceConcurrency"] = w.instance_concurrency.into();
    }
    json!({
        "Runtime": c.runtime,
        "Handler": c.handler,
        "Description": c.description,
        "MemorySize": c.memory_mb,
        "Timeout": c.timeout_ms.div_ceil(1000).max(1),
        "Environment": { "Variables": c.environment },
        "ImageConfig": { "EntryPoint": c.command.clone().unwrap_or_default() },
        "Ondol": ondol,
    })
}

/// Publishes each function's version and warms those that change (as many
/// instances as the live version uses, at least `min_warm`, at least one). Nothing
/// is switched unless every new version started. Returns the switches and the
/// version each function will serve.
async fn publish_and_warm(
    endpoint: &str,
    d: &Deployment,
    progress: &Progress,
) -> Result<(Vec<Switch>, BTreeMap<String, String>)> {
    let (_, metrics) = call(endpoint, Method::GET, "/ondol/v1/metrics", None).await?;
    let mut switches = Vec::new();
    let mut live = BTreeMap::new();
    for f in &d.functions {
        let name = &f.config.name;
        progress.step(format!("publishing {name}"));
        let path = format!("/2015-03-31/functions/{name}/versions");
        let (_, v) = call(endpoint, Method::POST, &path, Some(json!({}))).await?;
        let new = v["Version"].as_str().unwrap_or_default().to_string();
        live.insert(name.clone(), new.clone());
        let old = release::live_version(endpoint, name).await?;
        if old.as_deref() == Some(new.as_str()) {
            continue;
        }
        let count = release::running(&metrics, name, old.as_deref())
            .max(f.config.limits.min_warm)
            .max(1);
        release::warm(endpoint, name, &new, count, progress).await?;
        switches.push(Switch {
            function: name.clone(),
            new,
            old,
        });
    }
    Ok((switches, live))
}

/// What a deploy did, for callers that print or test it.
pub struct Report {
    pub uploaded: Vec<String>,
    pub unchanged: Vec<String>,
    pub http: String,
    /// The version each function serves now.
    pub live: BTreeMap<String, String>,
}

/// Applies a resolved deployment to the server at `endpoint`.
pub async fn apply(endpoint: &str, d: &Deployment, progress: &Progress) -> Result<Report> {
    let mut report = Report {
        uploaded: vec![],
        unchanged: vec![],
        http: String::new(),
        live: BTreeMap::new(),
    };
    for f in &d.functions {
        let name = &f.config.name;
        progress.step(format!("packaging {name}"));
        let pkg = package(&f.code_dir)?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&pkg.zip);
        let (status, current) = call(
            endpoint,
            Method::GET,
            &format!("/2015-03-31/functions/{name}"),
            None,
        )
        .await?;
        if status == StatusCode::NOT_FOUND {
            progress.step(format!("creating {name}"));
            let mut body = config_json(f);
            body["FunctionName"] = name.clone().into();
            body["Role"] = "arn:aws:iam::000000000000:role/ondol".into();
            body["Code"] = json!({ "ZipFile": b64 });
            call(endpoint, Method::POST, "/2015-03-31/functions", Some(body)).await?;
            progress.done(format!(
                "{name}: created, code uploaded ({} KB)",
                pkg.zip.len().div_ceil(1024)
            ));
            report.uploaded.push(name.clone());
            continue;
        }
        progress.step(format!("configuring {name}"));
        call(
            endpoint,
            Method::PUT,
            &format!("/2015-03-31/functions/{name}/configuration"),
            Some(config_json(f)),
        )
        .await?;
        if current["Configuration"]["CodeSha256"].as_str() == Some(pkg.sha256.as_str()) {
            progress.done(format!("{name}: code unchanged"));
            report.unchanged.push(name.clone());
        } else {
            progress.step(format!("uploading {name}"));
            call(
                endpoint,
                Method::PUT,
                &format!("/2015-03-31/functions/{name}/code"),
                Some(json!({ "ZipFile": b64 })),
            )
            .await?;
            progress.done(format!(
                "{name}: code uploaded ({} KB)",
                pkg.zip.len().div_ceil(1024)
            ));
            report.uploaded.push(name.clone());
        }
    }
    for f in &d.functions {
        let path = format!(
            "/2019-09-25/functions/{}/event-invoke-config",
            f.config.name
        );
        match &f.async_config {
            Some(a) => {
                let arn = |n: &Option<String>| match n {
                    Some(n) => {
                        json!({ "Destination": format!("arn:aws:lambda:us-east-1:000000000000:function:{n}") })
                    }
                    None => json!({}),
                };
                let body = json!({
                    "MaximumRetryAttempts": a.maximum_retry_attempts,
                    "MaximumEventAgeInSeconds": a.maximum_event_age_s,
                    "DestinationConfig": { "OnSuccess": arn(&a.on_success), "OnFailure": arn(&a.on_failure) },
                });
                call(endpoint, Method::PUT, &path, Some(body)).await?;
            }
            None => {
                call(endpoint, Method::DELETE, &path, None).await?;
            }
        }
    }
    let (switches, live) = match publish_and_warm(endpoint, d, progress).await {
        Ok(r) => r,
        Err(e) => {
            let why = e.to_string();
            let first = why.lines().next().unwrap_or_default().to_string();
            let outcome = format!("failed: {first}");
            let _ = release::record(endpoint, &d.app, &BTreeMap::new(), &outcome).await;
            return Err(e);
        }
    };
    for sw in &switches {
        let strategy = d
            .functions
            .iter()
            .find(|f| f.config.name == sw.function)
            .map_or(Strategy::AllAtOnce, |f| f.strategy);
        if let Err(e) = release::shift(endpoint, sw, strategy, progress).await {
            let first = e.to_string().lines().next().unwrap_or_default().to_string();
            let _ = release::record(
                endpoint,
                &d.app,
                &BTreeMap::new(),
                &format!("failed: {first}"),
            )
            .await;
            return Err(e);
        }
    }
    progress.step("applying routes".into());
    let mut app = d.http.clone();
    for r in &mut app.routes {
        r.qualifier = Some(LIVE.to_string());
    }
    let http = serde_json::to_value(&app)?;
    call(
        endpoint,
        Method::PUT,
        &format!("/ondol/v1/apps/{}", d.app),
        Some(http),
    )
    .await?;
    let (_, info) = call(endpoint, Method::GET, "/ondol/v1/info", None).await?;
    report.http = info["http"].as_str().unwrap_or("").to_string();
    release::drain_old(endpoint, &switches).await?;
    release::record(endpoint, &d.app, &live, "deployed").await?;
    report.live = live;
    progress.finish();
    Ok(report)
}

/// The URL lines of a deployed app.
pub fn urls(d: &Deployment, http: &str) -> Vec<String> {
    d.http
        .routes
        .iter()
        .map(|r| {
            let method = r.method.as_deref().unwrap_or("ANY");
            let path = r.path.as_deref().unwrap_or("/*");
            format!("  {method:<7} {http}{path}  →  {}", r.function)
        })
        .collect()
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let d = load(&a.dir)?;
    let begun = Instant::now();
    let progress = if a.json {
        Progress::quiet()
    } else {
        Progress::new()
    };
    let report = apply(&a.endpoint, &d, &progress).await?;
    if a.json {
        let routes: Vec<Value> = d
            .http
            .routes
            .iter()
            .map(|r| {
                json!({
                    "route": r.key,
                    "url": format!("{}{}", report.http, r.path.as_deref().unwrap_or("/")),
                    "function": r.function,
                })
            })
            .collect();
        let out = json!({
            "app": d.app,
            "uploaded": report.uploaded,
            "unchanged": report.unchanged,
            "versions": report.live,
            "routes": routes,
            "duration_ms": begun.elapsed().as_millis() as u64,
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "deployed {}: {} uploaded, {} unchanged",
        d.app,
        report.uploaded.len(),
        report.unchanged.len()
    );
    for line in urls(&d, &report.http) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
