//! Moving traffic between versions safely, shared by `deploy` and `rollback`:
//! warm the target version, switch every function's `live` alias only when all are
//! warm, drain the old versions, and record the outcome in the app's history.
//! Also `ondol history` and `ondol rollback`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::deploy::{call, Progress};
use crate::client::{self, DEFAULT_ENDPOINT};

/// The alias every deploy moves; routes serve it.
pub const LIVE: &str = "live";

/// One function's move from `old` to `new`.
pub struct Switch {
    pub function: String,
    pub new: String,
    pub old: Option<String>,
}

/// The version a function's `live` alias serves, if it has one.
pub async fn live_version(endpoint: &str, name: &str) -> Result<Option<String>> {
    let (status, alias) = call(
        endpoint,
        Method::GET,
        &format!("/2015-03-31/functions/{name}/aliases/{LIVE}"),
        None,
    )
    .await?;
    Ok((status != StatusCode::NOT_FOUND)
        .then(|| alias["FunctionVersion"].as_str().map(str::to_string))
        .flatten())
}

/// Instances a version is running now (from the server's metrics).
pub fn running(metrics: &Value, name: &str, version: Option<&str>) -> u32 {
    version
        .and_then(|v| metrics["pools"][name][v]["running"].as_u64())
        .unwrap_or(0) as u32
}

/// Starts `count` instances of a version and waits for their init; a failure
/// carries the version's init log.
pub async fn warm(
    endpoint: &str,
    name: &str,
    version: &str,
    count: u32,
    progress: &Progress,
) -> Result<()> {
    progress.step(format!(
        "warming {name} version {version} ({count} instance(s))"
    ));
    let url = format!(
        "{}/ondol/v1/functions/{name}/warm",
        endpoint.trim_end_matches('/')
    );
    let body = json!({ "Version": version, "Count": count }).to_string();
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
            "{}\nnothing was switched: the previous versions keep serving.\ninit log of {name} version {version}:\n  {}",
            v["message"].as_str().unwrap_or("the new version failed to start"),
            log.join("\n  ")
        );
    }
    progress.done(format!("{name}: version {version} warm ({count})"));
    Ok(())
}

/// Moves every `live` alias (all were warmed first).
pub async fn switch_all(endpoint: &str, switches: &[Switch], progress: &Progress) -> Result<()> {
    for s in switches {
        progress.step(format!("switching {} to version {}", s.function, s.new));
        let alias = json!({ "Name": LIVE, "FunctionVersion": s.new });
        let path = format!("/2015-03-31/functions/{}/aliases", s.function);
        if s.old.is_some() {
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
        progress.done(format!("{}: version {} serves", s.function, s.new));
    }
    Ok(())
}

/// The old versions' idle instances stop; busy ones finish their work.
pub async fn drain_old(endpoint: &str, switches: &[Switch]) -> Result<()> {
    for s in switches {
        if let Some(old) = &s.old {
            let body = json!({ "Version": old });
            call(
                endpoint,
                Method::POST,
                &format!("/ondol/v1/functions/{}/drain", s.function),
                Some(body),
            )
            .await?;
        }
    }
    Ok(())
}

/// Adds an entry to the app's history; returns its number.
pub async fn record(
    endpoint: &str,
    app: &str,
    versions: &BTreeMap<String, String>,
    outcome: &str,
) -> Result<i64> {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let body = json!({ "app": app, "stage": "$default", "who": who, "versions": versions, "outcome": outcome });
    let (_, v) = call(
        endpoint,
        Method::POST,
        &format!("/ondol/v1/apps/{app}/deploys"),
        Some(body),
    )
    .await?;
    Ok(v["id"].as_i64().unwrap_or(0))
}

async fn history_of(endpoint: &str, app: &str) -> Result<Vec<Value>> {
    let (_, v) = call(
        endpoint,
        Method::GET,
        &format!("/ondol/v1/apps/{app}/deploys"),
        None,
    )
    .await?;
    Ok(v["deploys"].as_array().cloned().unwrap_or_default())
}

/// Which app a command is about: `--app`, else the manifest in DIR.
fn app_name(dir: &std::path::Path, app: &Option<String>) -> Result<String> {
    match app {
        Some(a) => Ok(a.clone()),
        None => Ok(super::deploy::load(dir)
            .context("name the app with --app, or run this in its directory")?
            .app),
    }
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// The app directory (its ondol.toml names the app).
    #[arg(default_value = ".")]
    dir: PathBuf,
    #[arg(long)]
    app: Option<String>,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

/// `ondol history`: the app's deploys, newest first.
pub async fn history(a: HistoryArgs) -> Result<ExitCode> {
    let app = app_name(&a.dir, &a.app)?;
    for d in history_of(&a.endpoint, &app).await? {
        let when = client::utc_time(&d["at_ms"]);
        let versions: Vec<String> = d["versions"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(f, v)| format!("{f}={}", v.as_str().unwrap_or("")))
            .collect();
        println!(
            "#{}  {when}  {}  {}  {}",
            d["id"],
            d["who"].as_str().unwrap_or(""),
            d["outcome"].as_str().unwrap_or(""),
            versions.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The app directory (its ondol.toml names the app).
    #[arg(default_value = ".")]
    dir: PathBuf,
    #[arg(long)]
    app: Option<String>,
    /// The history entry to go back to (default: the one before the live one).
    #[arg(long)]
    to: Option<i64>,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

/// `ondol rollback`: every function back to the versions of an earlier deploy,
/// warmed before the switch like any deploy.
pub async fn rollback(a: RollbackArgs) -> Result<ExitCode> {
    let app = app_name(&a.dir, &a.app)?;
    let e = &a.endpoint;
    let good: Vec<Value> = history_of(e, &app)
        .await?
        .into_iter()
        .filter(|d| !d["outcome"].as_str().unwrap_or("").starts_with("failed"))
        .collect();
    let target = match a.to {
        Some(id) => good
            .iter()
            .find(|d| d["id"].as_i64() == Some(id))
            .with_context(|| format!("no successful deploy #{id} in {app}'s history"))?,
        None => good
            .get(1)
            .with_context(|| format!("{app} has no earlier deploy to roll back to"))?,
    };
    let versions: BTreeMap<String, String> = target["versions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(f, v)| (f.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let progress = Progress::new();
    let (_, metrics) = call(e, Method::GET, "/ondol/v1/metrics", None).await?;
    let mut switches = Vec::new();
    for (f, v) in &versions {
        let old = live_version(e, f).await?;
        if old.as_deref() == Some(v.as_str()) {
            continue;
        }
        warm(
            e,
            f,
            v,
            running(&metrics, f, old.as_deref()).max(1),
            &progress,
        )
        .await?;
        switches.push(Switch {
            function: f.clone(),
            new: v.clone(),
            old,
        });
    }
    switch_all(e, &switches, &progress).await?;
    drain_old(e, &switches).await?;
    progress.finish();
    let id = record(
        e,
        &app,
        &versions,
        &format!("rolled back to #{}", target["id"]),
    )
    .await?;
    println!("{app}: rolled back to #{} (history #{id})", target["id"]);
    Ok(ExitCode::SUCCESS)
}

/// Rollback thresholds while traffic shifts: 5 % errors over at least 20 invocations.
const MAX_ERROR_RATE: f64 = 0.05;
const MIN_INVOCATIONS: u64 = 20;

fn version_counts(metrics: &Value, name: &str, version: &str) -> (u64, u64) {
    let p = &metrics["pools"][name][version];
    (
        p["invocations"].as_u64().unwrap_or(0),
        p["errors"].as_u64().unwrap_or(0),
    )
}

async fn set_alias(
    endpoint: &str,
    name: &str,
    version: &str,
    extra: Option<(&str, f64)>,
) -> Result<()> {
    let weights = match extra {
        Some((v, w)) => json!({ v: w }),
        None => json!({}),
    };
    let body = json!({ "FunctionVersion": version, "RoutingConfig": { "AdditionalVersionWeights": weights } });
    call(
        endpoint,
        Method::PUT,
        &format!("/2015-03-31/functions/{name}/aliases/{LIVE}"),
        Some(body),
    )
    .await?;
    Ok(())
}

/// Shifts traffic to the new version by a canary or linear strategy through a
/// weighted `live` alias, watching the new version's error rate; past the
/// threshold it goes back to the old version at once and fails with the reason.
pub async fn shift(
    endpoint: &str,
    s: &Switch,
    strategy: ondol_core::manifest::Strategy,
    progress: &Progress,
) -> Result<()> {
    use ondol_core::manifest::Strategy;
    let Some(old) = &s.old else {
        return switch_all(endpoint, std::slice::from_ref(s), progress).await;
    };
    let steps: Vec<(f64, std::time::Duration)> = match strategy {
        Strategy::AllAtOnce => Vec::new(),
        Strategy::Canary { share, wait } => vec![(share, wait)],
        Strategy::Linear { step, every } => {
            let n = (1.0 / step).ceil() as usize;
            (1..n)
                .map(|i| ((step * i as f64).min(0.99), every))
                .collect()
        }
    };
    let (_, m) = call(endpoint, Method::GET, "/ondol/v1/metrics", None).await?;
    let (base_inv, base_err) = version_counts(&m, &s.function, &s.new);
    for (share, hold) in steps {
        progress.step(format!(
            "{}: {:.0}% on version {} for {:?}",
            s.function,
            share * 100.0,
            s.new,
            hold
        ));
        set_alias(endpoint, &s.function, old, Some((&s.new, share))).await?;
        let until = std::time::Instant::now() + hold;
        while std::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let (_, m) = call(endpoint, Method::GET, "/ondol/v1/metrics", None).await?;
            let (inv, err) = version_counts(&m, &s.function, &s.new);
            let (inv, err) = (inv - base_inv, err - base_err);
            if inv >= MIN_INVOCATIONS && err as f64 / inv as f64 >= MAX_ERROR_RATE {
                set_alias(endpoint, &s.function, old, None).await?;
                progress.finish();
                bail!(
                    "rolled back {}: version {} failed {err} of {inv} invocations ({:.0}%, threshold {:.0}% over at least {MIN_INVOCATIONS}); version {old} serves again",
                    s.function,
                    s.new,
                    err as f64 * 100.0 / inv as f64,
                    MAX_ERROR_RATE * 100.0
                );
            }
        }
    }
    set_alias(endpoint, &s.function, &s.new, None).await?;
    progress.done(format!("{}: version {} serves", s.function, s.new));
    Ok(())
}
