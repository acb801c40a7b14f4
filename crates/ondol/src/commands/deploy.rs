//! `ondol deploy [DIR]`: resolves `ondol.toml` (a bad manifest changes nothing),
//! builds and packages each function (dependencies included), uploads only code whose hash changed, applies
//! configuration and routes, and prints the URLs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode};
use ondol_core::manifest::{
    stage_alias, DeployedFunction, Deployment, Manifest, Rollback, Strategy, DEFAULT_STAGE,
};
use serde_json::{json, Value};

use super::latest::{self, Saved};
use super::release::{self, Switch};
use crate::build;
use crate::client::{self, DEFAULT_ENDPOINT};
pub use crate::progress::Progress;

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
    /// Print what would be deployed (functions, routes, schedules) and stop.
    #[arg(long)]
    dry_run: bool,
    /// The stage to deploy (declared as [stages.NAME] in ondol.toml).
    #[arg(long, default_value = DEFAULT_STAGE)]
    stage: String,
}

/// Reads `dir/ondol.toml` as its `$default` stage serves it.
pub fn load(dir: &Path) -> Result<Deployment> {
    load_stage(dir, DEFAULT_STAGE)
}

/// Reads and resolves `dir/ondol.toml` for one stage; every error names the file
/// and key.
pub fn load_stage(dir: &Path, stage: &str) -> Result<Deployment> {
    let path = dir.join("ondol.toml");
    let d = load_for(dir, stage)?;
    d.for_stage(stage)
        .map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))
}

/// `dir/ondol.toml`; without one, another tool's project file imported for `stage`
/// (the tool's stage of that name), its report printed first.
fn load_for(dir: &Path, stage: &str) -> Result<Deployment> {
    let path = dir.join("ondol.toml");
    let (text, file) = match crate::import::detect(dir) {
        Some((tool, source)) if !path.exists() => {
            let stage = (stage != DEFAULT_STAGE).then_some(stage);
            let imported = crate::import::import(tool, &source, stage)?;
            eprintln!(
                "no ondol.toml: importing {} from {}\n{}",
                tool.name(),
                source.display(),
                imported.report
            );
            let file = format!("{} (imported)", source.display());
            (imported.manifest, file)
        }
        _ => {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {file}"))?;
            (text, file)
        }
    };
    let base =
        std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let d = Manifest::load(&text, &base, &file)?;
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

/// Sends the stage's HTTP side to an app endpoint (`check` or the app itself). The
/// server's refusals are `key: what` with the manifest's keys, so they are given
/// back prefixed with the manifest file.
async fn app_call(endpoint: &str, method: Method, path: &str, d: &Deployment) -> Result<()> {
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let body = Bytes::from(serde_json::to_vec(&d.http)?);
    let r = client::call(method, &url, &[], body).await?;
    if r.status == StatusCode::BAD_REQUEST {
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let msg = v["message"].as_str().unwrap_or_default();
        bail!("{}: {msg}", d.file);
    }
    if !r.status.is_success() {
        bail!("{path}: {}", client::error_message(&r));
    }
    Ok(())
}

/// The CreateFunction/UpdateFunctionConfiguration members for a function.
fn config_json(f: &DeployedFunction) -> Value {
    let c = &f.config;
    let l = &c.limits;
    let mut ondol = json!({
        "MaxConcurrency": l.max_concurrency, "MinWarm": l.min_warm, "IdleTimeoutMs": l.idle_timeout_ms,
        "InitTimeoutMs": l.init_timeout_ms, "SlowInitMs": l.slow_init_ms, "MaxRequestBytes": l.max_request_bytes,
        "MaxResponseBytes": l.max_response_bytes, "QueueDepth": l.queue_depth,
        "QueueWaitMs": l.queue_wait_ms, "TimeoutMs": c.timeout_ms,
        "Network": c.network.as_str(),
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
        "EphemeralStorage": { "Size": c.ephemeral_mb },
        "Timeout": c.timeout_ms.div_ceil(1000).max(1),
        "Environment": { "Variables": c.environment },
        "ImageConfig": { "EntryPoint": c.command.clone().unwrap_or_default() },
        "Ondol": ondol,
        "Layers": c.layers.iter().map(|l| l.arn.as_str()).collect::<Vec<_>>(),
    })
}

/// What a deploy did, for callers that print or test it.
pub struct Report {
    pub uploaded: Vec<String>,
    pub unchanged: Vec<String>,
    pub http: String,
    /// The version each function serves now.
    pub live: BTreeMap<String, String>,
}

/// A hash of everything a function's version is published from: its code and its
/// configuration in this stage.
fn fingerprint(f: &DeployedFunction, code_sha256: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(config_json(f).to_string());
    h.update(b"\n");
    h.update(code_sha256);
    hex::encode(&h.finalize()[..12])
}

/// Makes `$LATEST` the function's code and configuration; returns its RevisionId,
/// whether code was uploaded, and `$LATEST` as it was (`None`: just created).
async fn put_latest(
    endpoint: &str,
    f: &DeployedFunction,
    pkg: &crate::package::Package,
    progress: &Progress,
) -> Result<(String, bool, Option<Saved>)> {
    let name = &f.config.name;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pkg.zip);
    let kb = pkg.zip.len().div_ceil(1024);
    let fpath = format!("/2015-03-31/functions/{name}");
    let (status, current) = call(endpoint, Method::GET, &fpath, None).await?;
    if status == StatusCode::NOT_FOUND {
        progress.step(format!("creating {name}"));
        let mut body = config_json(f);
        body["FunctionName"] = name.clone().into();
        body["Role"] = "arn:aws:iam::000000000000:role/ondol".into();
        body["Code"] = json!({ "ZipFile": b64 });
        let (_, v) = call(endpoint, Method::POST, "/2015-03-31/functions", Some(body)).await?;
        progress.done(format!("{name}: created, code uploaded ({kb} KB)"));
        return Ok((v["RevisionId"].as_str().unwrap_or("").into(), true, None));
    }
    let saved = Saved::of(name, &current);
    progress.step(format!("configuring {name}"));
    // Each change names the revision it follows, so a concurrent deploy of another
    // stage cannot slip its configuration or code in between.
    let raced = |e: anyhow::Error| {
        if e.to_string().contains("Revision Id") {
            anyhow::anyhow!("{name} was changed by another deploy while this one ran; deploy again")
        } else {
            e
        }
    };
    let mut body = config_json(f);
    body["RevisionId"] = current["Configuration"]["RevisionId"].clone();
    let (_, mut v) = call(
        endpoint,
        Method::PUT,
        &format!("{fpath}/configuration"),
        Some(body),
    )
    .await
    .map_err(raced)?;
    let uploaded = current["Configuration"]["CodeSha256"].as_str() != Some(pkg.sha256.as_str());
    if uploaded {
        progress.step(format!("uploading {name}"));
        (_, v) = call(
            endpoint,
            Method::PUT,
            &format!("{fpath}/code"),
            Some(json!({ "ZipFile": b64, "RevisionId": v["RevisionId"] })),
        )
        .await
        .map_err(raced)?;
        progress.done(format!("{name}: code uploaded ({kb} KB)"));
    } else {
        progress.done(format!("{name}: configured, code unchanged"));
    }
    Ok((
        v["RevisionId"].as_str().unwrap_or("").into(),
        uploaded,
        Some(saved),
    ))
}

/// Publishes `$LATEST` as exactly what was just put there (a concurrent deploy of
/// another stage changes the RevisionId, and this one then says so).
async fn publish(
    endpoint: &str,
    name: &str,
    revision: &str,
    progress: &Progress,
) -> Result<String> {
    progress.step(format!("publishing {name}"));
    let url = format!(
        "{}/2015-03-31/functions/{name}/versions",
        endpoint.trim_end_matches('/')
    );
    let body = json!({ "RevisionId": revision }).to_string();
    let r = client::call(Method::POST, &url, &[], Bytes::from(body)).await?;
    if r.status == StatusCode::PRECONDITION_FAILED {
        bail!("{name} was changed by another deploy while this one ran; deploy again");
    }
    if !r.status.is_success() {
        bail!("publishing {name}: {}", client::error_message(&r));
    }
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let version = v["Version"].as_str().unwrap_or_default().to_string();
    progress.done(format!("{name}: version {version} published"));
    Ok(version)
}

/// The newest deploy of `stage` that went live: the versions and fingerprints it left.
async fn last_good(endpoint: &str, app: &str, stage: &str) -> Result<Option<Value>> {
    Ok(release::history_of(endpoint, app, Some(stage))
        .await?
        .into_iter()
        .find(|d| !release::failed(d)))
}

/// Each function's async settings for this stage: destinations are this stage's
/// aliases of the app's functions.
async fn put_event_configs(
    endpoint: &str,
    d: &Deployment,
    alias: &str,
    info: &Value,
) -> Result<()> {
    let (region, account) = (
        info["region"].as_str().unwrap_or("us-east-1"),
        info["account"].as_str().unwrap_or("000000000000"),
    );
    let default_stage = d.http.stage == DEFAULT_STAGE;
    for f in &d.functions {
        let mut path = format!(
            "/2019-09-25/functions/{}/event-invoke-config",
            f.config.name
        );
        if !default_stage {
            path.push_str(&format!("?Qualifier={alias}"));
        }
        let arn = |n: &Option<String>| match n {
            Some(n) => {
                json!({ "Destination": format!("arn:aws:lambda:{region}:{account}:function:{n}:{alias}") })
            }
            None => json!({}),
        };
        match &f.async_config {
            Some(a) => {
                let body = json!({
                    "MaximumRetryAttempts": a.maximum_retry_attempts,
                    "MaximumEventAgeInSeconds": a.maximum_event_age_s,
                    "DestinationConfig": { "OnSuccess": arn(&a.on_success), "OnFailure": arn(&a.on_failure) },
                });
                call(endpoint, Method::PUT, &path, Some(body)).await?;
            }
            // `$default`'s settings are the function's own; a named stage without
            // any gets the defaults, not `$default`'s.
            None if default_stage => {
                call(endpoint, Method::DELETE, &path, None).await?;
            }
            None => {
                let body = json!({ "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600 });
                call(endpoint, Method::PUT, &path, Some(body)).await?;
            }
        }
    }
    Ok(())
}

/// Applies a resolved deployment of one stage (see [`Deployment::for_stage`]) to the
/// server at `endpoint`: unchanged functions are skipped whole; changed ones are
/// put, published, and warmed; nothing switches unless every new version started;
/// then traffic shifts by each function's strategy, the routes are applied, the old
/// versions drain, and the outcome goes into the stage's history.
pub async fn apply(endpoint: &str, d: &Deployment, progress: &Progress) -> Result<Report> {
    let stage = d.http.stage.as_str();
    let alias = stage_alias(stage);
    let mut report = Report {
        uploaded: vec![],
        unchanged: vec![],
        http: String::new(),
        live: BTreeMap::new(),
    };
    // `$LATEST` of each function changed, put back if no new version comes to serve.
    let mut saved: Vec<Saved> = Vec::new();
    let mut serving_new = false;
    let result = async {
        // Routes that would clash are refused before anything changes.
        app_call(
            endpoint,
            Method::POST,
            &format!("/ondol/v1/apps/{}/check", d.app),
            d,
        )
        .await?;
        // The app's layers first: functions then name the versions they use.
        let resolved = super::layers::resolve(endpoint, d, progress).await?;
        let d = &resolved;
        let last = last_good(endpoint, &d.app, stage).await?;
        let (_, metrics) = call(endpoint, Method::GET, "/ondol/v1/metrics", None).await?;
        let mut fingerprints = BTreeMap::new();
        let mut switches = Vec::new();
        let mut warms = Vec::new();
        for f in &d.functions {
            let name = &f.config.name;
            // pip and npm may run for a while: off the async workers (`ondol up`
            // and `dev` serve from this same runtime).
            let target = build::Target::of(f);
            let pkg =
                tokio::task::block_in_place(|| build::package_function(&target, progress))?.package;
            let fp = fingerprint(f, &pkg.sha256);
            fingerprints.insert(name.clone(), fp.clone());
            let (old, split) = release::alias_state(endpoint, name, &alias).await?;
            let same = !split
                && last.as_ref().is_some_and(|l| {
                    l["fingerprints"][name].as_str() == Some(fp.as_str())
                        && l["versions"][name].as_str() == old.as_deref()
                });
            if same {
                let v = old.unwrap_or_default();
                progress.done(format!("{name}: unchanged (version {v})"));
                report.unchanged.push(name.clone());
                report.live.insert(name.clone(), v);
                continue;
            }
            let (revision, uploaded, before) = put_latest(endpoint, f, &pkg, progress).await?;
            if let Some(mut b) = before {
                b.revision.clone_from(&revision);
                saved.push(b);
            }
            if uploaded {
                report.uploaded.push(name.clone());
            } else {
                report.unchanged.push(name.clone());
            }
            let new = publish(endpoint, name, &revision, progress).await?;
            report.live.insert(name.clone(), new.clone());
            if old.as_deref() == Some(new.as_str()) {
                if split {
                    // A shift that never finished: all traffic back on the one version.
                    release::set_plain(endpoint, name, &alias, &new).await?;
                }
                continue;
            }
            let count = release::running(&metrics, name, old.as_deref())
                .max(f.config.limits.min_warm)
                .max(1);
            warms.push((count, name.clone(), new.clone()));
            switches.push(Switch {
                function: name.clone(),
                alias: alias.clone(),
                new,
                old,
            });
        }
        // Every new version starts at once; nothing switches unless all did.
        futures_util::future::try_join_all(
            warms
                .iter()
                .map(|(count, name, new)| release::warm(endpoint, name, new, *count, progress)),
        )
        .await?;
        // Functions shift side by side; if one rolls back (or the deploy is
        // cancelled), the others stop too and the whole deploy goes back: every
        // function serves the version it served before.
        let plan: Vec<(&Switch, Strategy, Rollback)> = switches
            .iter()
            .map(|sw| {
                let f = d.functions.iter().find(|f| f.config.name == sw.function);
                let (st, rb) = f.map_or((Strategy::AllAtOnce, Rollback::default()), |f| {
                    (f.strategy, f.rollback)
                });
                (sw, st, rb)
            })
            .collect();
        let gradual = plan
            .iter()
            .any(|(sw, st, _)| sw.old.is_some() && !release::steps_of(*st).is_empty());
        let (stop_tx, stop_rx) = release::stop_channel(gradual)?;
        let first_failure = std::sync::Mutex::new(None::<String>);
        let outcomes = futures_util::future::join_all(plan.iter().map(|(sw, st, rb)| {
            let (stop_tx, stop_rx, first_failure) = (&stop_tx, stop_rx.clone(), &first_failure);
            async move {
                let r = release::shift(endpoint, sw, *st, *rb, stop_rx, progress).await;
                if let Err(e) = &r {
                    let mut first = first_failure.lock().unwrap_or_else(|p| p.into_inner());
                    if first.is_none() {
                        *first = Some(e.to_string());
                        stop_tx.send_if_modified(|why| {
                            why.is_none()
                                .then(|| {
                                    *why = Some(format!(
                                        "stopped because {} rolled back",
                                        sw.function
                                    ));
                                })
                                .is_some()
                        });
                    }
                }
                r
            }
        }))
        .await;
        if outcomes.iter().any(Result::is_err) {
            let root = first_failure
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_default();
            let mut back = Vec::new();
            let mut trouble = Vec::new();
            for sw in &switches {
                if let Some(old) = &sw.old {
                    match release::set_plain(endpoint, &sw.function, &sw.alias, old).await {
                        Ok(()) => back.push(format!("{} version {old}", sw.function)),
                        Err(e) => trouble.push(format!("{}: {e}", sw.function)),
                    }
                }
            }
            let mut msg = root;
            if back.len() > 1 {
                msg.push_str(&format!(
                    "; the deploy was rolled back whole: {} serve again",
                    back.join(", ")
                ));
            }
            if !trouble.is_empty() {
                msg.push_str(&format!("; could not put back: {}", trouble.join("; ")));
            }
            bail!(msg);
        }
        serving_new = true;
        // The server's region and account (destination ARNs) and its front door.
        let (_, info) = call(endpoint, Method::GET, "/ondol/v1/info", None).await?;
        put_event_configs(endpoint, d, &alias, &info).await?;
        progress.step("applying routes".into());
        app_call(
            endpoint,
            Method::PUT,
            &format!("/ondol/v1/apps/{}", d.app),
            d,
        )
        .await?;
        report.http = info["http"].as_str().unwrap_or("").to_string();
        release::drain_old(endpoint, &switches, progress).await?;
        anyhow::Ok(fingerprints)
    }
    .await;
    match result {
        Ok(fingerprints) => {
            release::record(
                endpoint,
                &d.app,
                stage,
                &report.live,
                &fingerprints,
                "deployed",
            )
            .await?;
            progress.finish();
            Ok(report)
        }
        Err(e) => {
            progress.finish();
            let e = if serving_new || saved.is_empty() {
                e
            } else {
                put_back(endpoint, e, &saved).await
            };
            let first = e.to_string().lines().next().unwrap_or_default().to_string();
            let _ = release::record(
                endpoint,
                &d.app,
                stage,
                &BTreeMap::new(),
                &BTreeMap::new(),
                &format!("failed: {first}"),
            )
            .await;
            Err(e)
        }
    }
}

/// Puts `$LATEST` back where this deploy changed it, saying so after `e`.
async fn put_back(endpoint: &str, e: anyhow::Error, saved: &[Saved]) -> anyhow::Error {
    let trouble = latest::restore_all(endpoint, saved).await;
    let names: Vec<&str> = saved.iter().map(|s| s.name.as_str()).collect();
    if trouble.is_empty() {
        anyhow::anyhow!(
            "{e:#}\n$LATEST of {} is back as it was before this deploy.",
            names.join(", ")
        )
    } else {
        anyhow::anyhow!("{e:#}\ncould not put back: {}", trouble.join("; "))
    }
}

/// Where a stage is served: `/<stage>` under the front door (and its own hosts).
pub fn stage_base(d: &Deployment, http: &str) -> String {
    if d.http.stage == DEFAULT_STAGE {
        http.to_string()
    } else {
        format!("{http}/{}", d.http.stage)
    }
}

/// The URL lines of a deployed app.
pub fn urls(d: &Deployment, http: &str) -> Vec<String> {
    let base = stage_base(d, http);
    let mut lines: Vec<String> = d
        .http
        .routes
        .iter()
        .map(|r| {
            let method = r.method.as_deref().unwrap_or("ANY");
            let path = r.path.as_deref().unwrap_or("/*");
            format!("  {method:<7} {base}{path}  →  {}", r.function)
        })
        .collect();
    for h in &d.http.hosts {
        lines.push(format!("  (and at the root of host {h})"));
    }
    lines
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let d = load_stage(&a.dir, &a.stage)?;
    if a.dry_run {
        super::plan::print(&d);
        return Ok(ExitCode::SUCCESS);
    }
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
                    "url": format!("{}{}", stage_base(&d, &report.http), r.path.as_deref().unwrap_or("/")),
                    "function": r.function,
                })
            })
            .collect();
        let out = json!({
            "app": d.app,
            "stage": d.http.stage,
            "uploaded": report.uploaded,
            "unchanged": report.unchanged,
            "versions": report.live,
            "routes": routes,
            "duration_ms": begun.elapsed().as_millis() as u64,
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    let stage = if d.http.stage == DEFAULT_STAGE {
        String::new()
    } else {
        format!(" (stage {})", d.http.stage)
    };
    println!(
        "deployed {}{stage}: {} uploaded, {} unchanged ({} ms)",
        d.app,
        report.uploaded.len(),
        report.unchanged.len(),
        begun.elapsed().as_millis()
    );
    for line in urls(&d, &report.http) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
