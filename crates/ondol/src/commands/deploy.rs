//! `ondol deploy [DIR]`: resolves `ondol.toml` (a bad manifest changes nothing),
//! builds and packages each function (dependencies included), uploads only code whose hash changed, applies
//! configuration and routes, and prints the URLs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ondol_core::manifest::{stage_alias, DeployedFunction, Deployment, Manifest, DEFAULT_STAGE};
use serde_json::{json, Value};

use crate::api::types::{
    DeployRecord, Destination, DestinationConfig, EventInvokeConfig, Info, Metrics,
};
use crate::api::{Client, DEFAULT_ENDPOINT};
use crate::build;
pub use crate::progress::Progress;
use crate::rollout::latest::{self, Saved};
use crate::rollout::{self, alias, history, publish, Move, Switch};

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

/// Sends the stage's HTTP side to the app (`check`: only whether it would be
/// refused). The server's refusals are `key: what` with the manifest's keys, so
/// they are given back prefixed with the manifest file.
async fn app_http(c: &Client, d: &Deployment, check: bool) -> Result<()> {
    if let Err(msg) = c.ondol().app_http(&d.app, check, &d.http).await? {
        bail!("{}: {msg}", d.file);
    }
    Ok(())
}

/// What a deploy did, for callers that print or test it.
pub struct Report {
    pub uploaded: Vec<String>,
    pub unchanged: Vec<String>,
    pub http: String,
    /// The version each function serves now.
    pub live: BTreeMap<String, String>,
}

/// The newest deploy of `stage` that went live: the versions and fingerprints it left.
async fn last_good(c: &Client, app: &str, stage: &str) -> Result<Option<DeployRecord>> {
    Ok(c.ondol()
        .deploys(app, Some(stage))
        .await?
        .into_iter()
        .find(|d| !history::failed(d)))
}

/// Each function's async settings for this stage: destinations are this stage's
/// aliases of the app's functions.
async fn put_event_configs(c: &Client, d: &Deployment, alias: &str, info: &Info) -> Result<()> {
    let default_stage = d.http.stage == DEFAULT_STAGE;
    let qualifier = (!default_stage).then_some(alias);
    let dest = |n: &Option<String>| Destination {
        destination: n.as_ref().map(|n| {
            format!(
                "arn:aws:lambda:{}:{}:function:{n}:{alias}",
                info.region, info.account
            )
        }),
    };
    for f in &d.functions {
        let name = &f.config.name;
        let body = match &f.async_config {
            Some(a) => EventInvokeConfig {
                maximum_retry_attempts: a.maximum_retry_attempts,
                maximum_event_age_in_seconds: a.maximum_event_age_s,
                destination_config: Some(DestinationConfig {
                    on_success: dest(&a.on_success),
                    on_failure: dest(&a.on_failure),
                }),
            },
            // `$default`'s settings are the function's own; a named stage without
            // any gets the defaults, not `$default`'s.
            None if default_stage => {
                c.lambda().delete_event_config(name, qualifier).await?;
                continue;
            }
            None => EventInvokeConfig {
                maximum_retry_attempts: 2,
                maximum_event_age_in_seconds: 21600,
                destination_config: None,
            },
        };
        c.lambda().put_event_config(name, qualifier, &body).await?;
    }
    Ok(())
}

/// One deploy's work on its functions before anything goes live.
struct Staging<'a> {
    c: &'a Client,
    alias: String,
    last: Option<DeployRecord>,
    metrics: Metrics,
    report: Report,
    /// `$LATEST` of each function changed, put back if no new version comes to serve.
    saved: Vec<Saved>,
    fingerprints: BTreeMap<String, String>,
    progress: &'a Progress,
}

impl Staging<'_> {
    /// Packages a function and, unless it is unchanged, puts and publishes it;
    /// returns the move to its new version, if the stage needs one.
    async fn function(&mut self, f: &DeployedFunction) -> Result<Option<Move>> {
        let (c, name) = (self.c, &f.config.name);
        // pip and npm may run for a while: off the async workers (`ondol up`
        // and `dev` serve from this same runtime).
        let target = build::Target::of(f);
        let pkg = tokio::task::block_in_place(|| build::package_function(&target, self.progress))?
            .package;
        let fp = publish::fingerprint(f, &pkg.sha256);
        self.fingerprints.insert(name.clone(), fp.clone());
        let (old, split) = alias::state(c, name, &self.alias).await?;
        let same = !split
            && self.last.as_ref().is_some_and(|l| {
                l.fingerprints.get(name) == Some(&fp)
                    && l.versions.get(name).map(String::as_str) == old.as_deref()
            });
        if same {
            let v = old.unwrap_or_default();
            self.progress
                .done(format!("{name}: unchanged (version {v})"));
            self.report.unchanged.push(name.clone());
            self.report.live.insert(name.clone(), v);
            return Ok(None);
        }
        let put = publish::put_latest(c, f, &pkg, self.progress).await?;
        if let Some(mut b) = put.before {
            b.revision.clone_from(&put.revision);
            self.saved.push(b);
        }
        let list = if put.uploaded {
            &mut self.report.uploaded
        } else {
            &mut self.report.unchanged
        };
        list.push(name.clone());
        let new = publish::publish(c, name, &put.revision, self.progress).await?;
        self.report.live.insert(name.clone(), new.clone());
        if old.as_deref() == Some(new.as_str()) {
            if split {
                // A shift that never finished: all traffic back on the one version.
                alias::set_plain(c, name, &self.alias, &new).await?;
            }
            return Ok(None);
        }
        let warm = rollout::running(&self.metrics, name, old.as_deref())
            .max(f.config.limits.min_warm)
            .max(1);
        Ok(Some(Move {
            switch: Switch {
                function: name.clone(),
                alias: self.alias.clone(),
                new,
                old,
            },
            strategy: f.strategy,
            rollback: f.rollback,
            warm,
        }))
    }
}

/// Applies a resolved deployment of one stage (see [`Deployment::for_stage`]) to the
/// server: unchanged functions are skipped whole; changed ones are put,
/// published, and warmed; nothing switches unless every new version started;
/// then traffic shifts by each function's strategy, the routes are applied, the
/// old versions drain, and the outcome goes into the stage's history.
pub async fn apply(c: &Client, d: &Deployment, progress: &Progress) -> Result<Report> {
    let stage = d.http.stage.as_str();
    let mut st = Staging {
        c,
        alias: stage_alias(stage),
        last: None,
        metrics: Metrics::default(),
        report: Report {
            uploaded: vec![],
            unchanged: vec![],
            http: String::new(),
            live: BTreeMap::new(),
        },
        saved: Vec::new(),
        fingerprints: BTreeMap::new(),
        progress,
    };
    let mut serving_new = false;
    let result = go(&mut st, d, &mut serving_new).await;
    progress.finish();
    let (app, report, saved) = (&d.app, st.report, st.saved);
    match result {
        Ok(()) => {
            let outcome = "deployed";
            history::record(c, app, stage, &report.live, &st.fingerprints, outcome).await?;
            Ok(report)
        }
        Err(e) => {
            let e = if serving_new || saved.is_empty() {
                e
            } else {
                put_back(c, e, &saved).await
            };
            let first = e.to_string().lines().next().unwrap_or_default().to_string();
            let none = BTreeMap::new();
            let outcome = format!("failed: {first}");
            let _ = history::record(c, app, stage, &none, &none, &outcome).await;
            Err(e)
        }
    }
}

/// The deploy itself; `serving_new` is set once the new versions serve.
async fn go(st: &mut Staging<'_>, d: &Deployment, serving_new: &mut bool) -> Result<()> {
    let (c, progress) = (st.c, st.progress);
    // Routes that would clash are refused before anything changes.
    app_http(c, d, true).await?;
    // The app's layers first: functions then name the versions they use.
    let d = &super::layers::resolve(c, d, progress).await?;
    st.last = last_good(c, &d.app, &d.http.stage).await?;
    st.metrics = c.ondol().metrics().await?;
    let mut moves = Vec::new();
    for f in &d.functions {
        moves.extend(st.function(f).await?);
    }
    rollout::go_live(c, &moves, progress).await?;
    *serving_new = true;
    let info = c.ondol().info().await?;
    put_event_configs(c, d, &st.alias, &info).await?;
    progress.step("applying routes".into());
    app_http(c, d, false).await?;
    st.report.http = info.http;
    let switches: Vec<Switch> = moves.into_iter().map(|m| m.switch).collect();
    alias::drain_old(c, &switches, progress).await
}

/// Puts `$LATEST` back where this deploy changed it, saying so after `e`.
async fn put_back(c: &Client, e: anyhow::Error, saved: &[Saved]) -> anyhow::Error {
    let trouble = latest::restore_all(c, saved).await;
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

/// `base` (`http://127.0.0.1:9000/prod`) with its host replaced by a route's
/// `host`, keeping the port: where that route answers.
fn on_host(base: &str, host: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let port = authority
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()));
    match port {
        Some(p) => format!("{scheme}://{host}:{p}{path}"),
        None => format!("{scheme}://{host}{path}"),
    }
}

/// Where a route answers: its stage's base, on the route's own host if it has one.
fn route_base(d: &Deployment, http: &str, r: &ondol_core::manifest::Route) -> String {
    let base = stage_base(d, http);
    match &r.host {
        Some(h) => on_host(&base, h),
        None => base,
    }
}

/// The URL lines of a deployed app.
pub fn urls(d: &Deployment, http: &str) -> Vec<String> {
    let mut lines: Vec<String> = d
        .http
        .routes
        .iter()
        .map(|r| {
            let method = r.method.as_deref().unwrap_or("ANY");
            let path = r.path.as_deref().unwrap_or("/*");
            let base = route_base(d, http, r);
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
    let report = apply(&Client::new(&a.endpoint), &d, &progress).await?;
    if a.json {
        let routes: Vec<Value> = d
            .http
            .routes
            .iter()
            .map(|r| {
                json!({
                    "route": r.key,
                    "url": format!("{}{}", route_base(&d, &report.http, r), r.path.as_deref().unwrap_or("/")),
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
