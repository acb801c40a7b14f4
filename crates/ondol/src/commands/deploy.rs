//! `ondol deploy [DIR]`: resolves `ondol.toml` (a bad manifest changes nothing),
//! packages each function, uploads only code whose hash changed, applies
//! configuration and routes, and prints the URLs.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode};
use ondol_core::manifest::{DeployedFunction, Deployment, Manifest};
use serde_json::{json, Value};

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
}

impl Progress {
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(80));
            b
        });
        Self {
            bar,
            begun: Instant::now(),
        }
    }

    fn step(&self, msg: String) {
        if let Some(b) = &self.bar {
            b.set_message(msg);
        }
    }

    /// A result line, kept on screen.
    fn done(&self, msg: String) {
        let line = format!(
            "{msg} ({:.0} ms)",
            self.begun.elapsed().as_secs_f64() * 1000.0
        );
        match &self.bar {
            Some(b) => b.println(line),
            None => println!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

async fn call(
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

/// The alias every deploy moves; routes serve it.
const LIVE: &str = "live";

/// Publishes each function's version and starts as many warm instances of it as
/// the live version uses (at least `min_warm`, at least one), waiting for their init.
/// Nothing is switched unless every new version started: a version whose init fails
/// never receives traffic, and the deploy fails with its init log.
/// Returns (function, new version, old version) for each function that changes.
async fn warm_new_versions(
    endpoint: &str,
    d: &Deployment,
    progress: &Progress,
) -> Result<Vec<(String, String, Option<String>)>> {
    let (_, metrics) = call(endpoint, Method::GET, "/ondol/v1/metrics", None).await?;
    let mut switches = Vec::new();
    for f in &d.functions {
        let name = &f.config.name;
        progress.step(format!("publishing {name}"));
        let (_, v) = call(
            endpoint,
            Method::POST,
            &format!("/2015-03-31/functions/{name}/versions"),
            Some(json!({})),
        )
        .await?;
        let new = v["Version"].as_str().unwrap_or_default().to_string();
        let (status, alias) = call(
            endpoint,
            Method::GET,
            &format!("/2015-03-31/functions/{name}/aliases/{LIVE}"),
            None,
        )
        .await?;
        let old = (status != StatusCode::NOT_FOUND)
            .then(|| alias["FunctionVersion"].as_str().map(str::to_string))
            .flatten();
        if old.as_deref() == Some(new.as_str()) {
            continue;
        }
        let in_use = old
            .as_ref()
            .and_then(|o| metrics["pools"][name][o]["running"].as_u64())
            .unwrap_or(0) as u32;
        let count = in_use.max(f.config.limits.min_warm).max(1);
        progress.step(format!(
            "warming {name} version {new} ({count} instance(s))"
        ));
        let url = format!(
            "{}/ondol/v1/functions/{name}/warm",
            endpoint.trim_end_matches('/')
        );
        let body = json!({ "Version": new, "Count": count }).to_string();
        let r = client::call(Method::POST, &url, &[], Bytes::from(body)).await?;
        if !r.status.is_success() {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let log: Vec<&str> = v["init_log"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            progress.finish();
            bail!(
                "{}\nnothing was switched: the previous versions keep serving.\ninit log of {name} version {new}:\n  {}",
                v["message"].as_str().unwrap_or("the new version failed to start"),
                log.join("\n  ")
            );
        }
        progress.done(format!("{name}: version {new} warm ({count})"));
        switches.push((name.clone(), new, old));
    }
    Ok(switches)
}

/// What a deploy did, for callers that print or test it.
pub struct Report {
    pub uploaded: Vec<String>,
    pub unchanged: Vec<String>,
    pub http: String,
}

/// Applies a resolved deployment to the server at `endpoint`.
pub async fn apply(endpoint: &str, d: &Deployment, progress: &Progress) -> Result<Report> {
    let mut report = Report {
        uploaded: vec![],
        unchanged: vec![],
        http: String::new(),
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
    let switches = warm_new_versions(endpoint, d, progress).await?;
    for (name, new, old) in &switches {
        progress.step(format!("switching {name} to version {new}"));
        let alias = json!({ "Name": LIVE, "FunctionVersion": new });
        let path = format!("/2015-03-31/functions/{name}/aliases");
        if old.is_some() {
            call(
                endpoint,
                Method::PUT,
                &format!("{path}/{LIVE}"),
                Some(alias),
            )
            .await?;
        } else {
            call(endpoint, Method::POST, &path, Some(alias)).await?;
        }
        progress.done(format!("{name}: version {new} serves"));
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
    // Traffic has moved: the old versions' idle instances stop (busy ones finish).
    for (name, _, old) in &switches {
        if let Some(old) = old {
            let body = json!({ "Version": old });
            call(
                endpoint,
                Method::POST,
                &format!("/ondol/v1/functions/{name}/drain"),
                Some(body),
            )
            .await?;
        }
    }
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
    let progress = Progress::new();
    let report = apply(&a.endpoint, &d, &progress).await?;
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
