//! Moving traffic between versions safely, shared by `deploy` and `rollback`:
//! warm the target version, switch every function's stage alias (`live` for
//! `$default`, else the stage's name) only when all are warm, drain the old
//! versions, and record the outcome in the stage's history. Also `ondol history`
//! and `ondol rollback`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use ondol_core::manifest::{Rollback, DEFAULT_STAGE};

use super::deploy::{call, Progress};
use crate::client::{self, DEFAULT_ENDPOINT};

/// One function's move from `old` to `new` through `alias`.
pub struct Switch {
    pub function: String,
    pub alias: String,
    pub new: String,
    pub old: Option<String>,
}

/// An alias's version, and whether it also sends a share to another version.
pub async fn alias_state(
    endpoint: &str,
    name: &str,
    alias: &str,
) -> Result<(Option<String>, bool)> {
    let (status, v) = call(
        endpoint,
        Method::GET,
        &format!("/2015-03-31/functions/{name}/aliases/{alias}"),
        None,
    )
    .await?;
    if status == StatusCode::NOT_FOUND {
        return Ok((None, false));
    }
    let split = v["RoutingConfig"]["AdditionalVersionWeights"]
        .as_object()
        .is_some_and(|w| !w.is_empty());
    Ok((v["FunctionVersion"].as_str().map(str::to_string), split))
}

/// Points an alias at one version with no share elsewhere.
pub async fn set_plain(endpoint: &str, name: &str, alias: &str, version: &str) -> Result<()> {
    put_alias(endpoint, name, alias, version, None).await
}

/// Points an alias at `version`, giving `extra` = (another version, its share) if
/// traffic is split.
async fn put_alias(
    endpoint: &str,
    name: &str,
    alias: &str,
    version: &str,
    extra: Option<(&str, f64)>,
) -> Result<()> {
    let weights = match extra {
        Some((v, w)) => json!({ v: w }),
        None => json!({}),
    };
    let body = json!({ "FunctionVersion": version, "RoutingConfig": { "AdditionalVersionWeights": weights } });
    let (status, _) = call(
        endpoint,
        Method::PUT,
        &format!("/2015-03-31/functions/{name}/aliases/{alias}"),
        Some(body),
    )
    .await?;
    if status == StatusCode::NOT_FOUND {
        bail!("alias {name}:{alias} was deleted while this deploy ran");
    }
    Ok(())
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
    let began = std::time::Instant::now();
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
    progress.done_since(format!("{name}: version {version} warm ({count})"), began);
    Ok(())
}

/// Moves every switch's alias (all were warmed first).
pub async fn switch_all(endpoint: &str, switches: &[Switch], progress: &Progress) -> Result<()> {
    for s in switches {
        progress.step(format!("switching {} to version {}", s.function, s.new));
        let alias = json!({ "Name": s.alias, "FunctionVersion": s.new });
        let path = format!("/2015-03-31/functions/{}/aliases", s.function);
        if s.old.is_some() {
            set_plain(endpoint, &s.function, &s.alias, &s.new).await?;
        } else {
            call(endpoint, Method::POST, &path, Some(alias)).await?;
        }
        progress.done(format!("{}: version {} serves", s.function, s.new));
    }
    Ok(())
}

/// The old versions' idle instances stop; busy ones finish their work. A version
/// another stage still serves keeps running.
pub async fn drain_old(endpoint: &str, switches: &[Switch], progress: &Progress) -> Result<()> {
    let mut drained = 0;
    for s in switches {
        let Some(old) = &s.old else { continue };
        let (_, aliases) = call(
            endpoint,
            Method::GET,
            &format!("/2015-03-31/functions/{}/aliases", s.function),
            None,
        )
        .await?;
        let still_served = aliases["Aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| {
                a["FunctionVersion"].as_str() == Some(old.as_str())
                    || a["RoutingConfig"]["AdditionalVersionWeights"]
                        .get(old.as_str())
                        .is_some()
            });
        if !still_served {
            progress.step(format!("draining {} version {old}", s.function));
            drained += 1;
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
    if drained > 0 {
        progress.done(format!("drained {drained} old version(s)"));
    }
    Ok(())
}

/// Who is deploying, as `user@host`: `$USER`/`$LOGNAME`, else the passwd entry of
/// this process's uid (CI containers often set neither variable).
fn who() -> String {
    use std::os::unix::fs::MetadataExt;
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            let uid = std::fs::metadata("/proc/self").ok()?.uid();
            let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
            passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[2] == uid.to_string())
                .map(|f| f[0].to_string())
                .or(Some(format!("uid {uid}")))
        })
        .unwrap_or_else(|| "unknown".into());
    match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(h) if !h.trim().is_empty() => format!("{user}@{}", h.trim()),
        _ => user,
    }
}

/// Adds an entry to the app's history; returns its number.
pub async fn record(
    endpoint: &str,
    app: &str,
    stage: &str,
    versions: &BTreeMap<String, String>,
    fingerprints: &BTreeMap<String, String>,
    outcome: &str,
) -> Result<i64> {
    let who = who();
    let body = json!({ "app": app, "stage": stage, "who": who, "versions": versions, "fingerprints": fingerprints, "outcome": outcome });
    let (_, v) = call(
        endpoint,
        Method::POST,
        &format!("/ondol/v1/apps/{app}/deploys"),
        Some(body),
    )
    .await?;
    Ok(v["id"].as_i64().unwrap_or(0))
}

/// Whether a history entry is a deploy that failed (and so never went live).
pub fn failed(d: &Value) -> bool {
    d["outcome"].as_str().unwrap_or("").starts_with("failed")
}

/// `?stage=S` for the ondol API's per-stage requests (`$default` encoded), or nothing.
pub fn stage_query(stage: Option<&str>) -> String {
    stage
        .map(|s| format!("?stage={}", client::encode_segment(s)))
        .unwrap_or_default()
}

/// The app's history (or one stage's), newest first.
pub async fn history_of(endpoint: &str, app: &str, stage: Option<&str>) -> Result<Vec<Value>> {
    let query = stage_query(stage);
    let (_, v) = call(
        endpoint,
        Method::GET,
        &format!("/ondol/v1/apps/{app}/deploys{query}"),
        None,
    )
    .await?;
    Ok(v["deploys"].as_array().cloned().unwrap_or_default())
}

/// Which app a command is about: `--app`, else the manifest in DIR.
pub(crate) fn app_name(dir: &std::path::Path, app: &Option<String>) -> Result<String> {
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
    /// Only this stage's deploys.
    #[arg(long)]
    stage: Option<String>,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

/// `ondol history`: the app's deploys, newest first, each with its stage.
pub async fn history(a: HistoryArgs) -> Result<ExitCode> {
    let app = app_name(&a.dir, &a.app)?;
    for d in history_of(&a.endpoint, &app, a.stage.as_deref()).await? {
        let stage = d["stage"].as_str().unwrap_or(DEFAULT_STAGE);
        let when = client::utc_time(&d["at_ms"]);
        let versions: Vec<String> = d["versions"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(f, v)| format!("{f}={}", v.as_str().unwrap_or("")))
            .collect();
        println!(
            "#{}  {when}  {stage}  {}  {}  {}",
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
    /// The stage to roll back.
    #[arg(long, default_value = DEFAULT_STAGE)]
    stage: String,
    /// The history entry to go back to (default: the one before the live one).
    #[arg(long)]
    to: Option<i64>,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

pub(crate) fn strings(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(f, v)| (f.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// `ondol rollback`: every function of a stage back to the versions of an earlier
/// deploy of that stage; the server warms them before the switch like any deploy.
pub async fn rollback(a: RollbackArgs) -> Result<ExitCode> {
    let app = app_name(&a.dir, &a.app)?;
    let progress = Progress::new();
    progress.step(format!("rolling back {app} ({})", a.stage));
    let body = json!({ "stage": a.stage, "to": a.to, "who": who() });
    let url = format!(
        "{}/ondol/v1/apps/{}/rollback",
        a.endpoint.trim_end_matches('/'),
        client::encode_segment(&app)
    );
    let r = client::call(Method::POST, &url, &[], Bytes::from(body.to_string())).await?;
    progress.finish();
    if !r.status.is_success() {
        bail!("{}", client::error_message(&r));
    }
    let v: Value = serde_json::from_slice(&r.body).context("reading the rollback's answer")?;
    for s in v["switched"].as_array().into_iter().flatten() {
        println!(
            "{}: version {} serves (was {})",
            s["function"].as_str().unwrap_or(""),
            s["to"].as_str().unwrap_or(""),
            s["from"].as_str().unwrap_or("none")
        );
    }
    println!(
        "{app} ({}): rolled back to #{} (history #{})",
        a.stage, v["to"], v["id"]
    );
    Ok(ExitCode::SUCCESS)
}

/// A version's invocation and error counts and its duration histogram (bucket
/// upper bound in ms → count).
struct Counts {
    invocations: u64,
    errors: u64,
    durations: BTreeMap<String, (f64, u64)>,
}

fn version_counts(metrics: &Value, name: &str, version: &str) -> Counts {
    let p = &metrics["pools"][name][version];
    let durations = p["durations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            let upper = b[0].as_f64()?;
            Some((b[0].to_string(), (upper, b[1].as_u64()?)))
        })
        .collect();
    Counts {
        invocations: p["invocations"].as_u64().unwrap_or(0),
        errors: p["errors"].as_u64().unwrap_or(0),
        durations,
    }
}

impl Counts {
    /// What happened between `base` and now.
    fn since(&self, base: &Counts) -> Counts {
        let durations = self
            .durations
            .iter()
            .map(|(k, (upper, n))| {
                let before = base.durations.get(k).map_or(0, |b| b.1);
                (k.clone(), (*upper, n.saturating_sub(before)))
            })
            .collect();
        Counts {
            invocations: self.invocations.saturating_sub(base.invocations),
            errors: self.errors.saturating_sub(base.errors),
            durations,
        }
    }

    /// The p99 duration's bucket as (lower, upper) bounds in ms.
    fn p99(&self) -> Option<(f64, f64)> {
        let mut buckets: Vec<(f64, u64)> = self.durations.values().copied().collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: u64 = buckets.iter().map(|b| b.1).sum();
        let rank = (total as f64 * 0.99).ceil() as u64;
        let mut seen = 0;
        for (upper, n) in buckets {
            seen += n;
            if seen >= rank.max(1) {
                return Some((upper / 1.1, upper));
            }
        }
        None
    }

    /// Why this window of the new version crosses the thresholds, if it does.
    fn breach(&self, r: &Rollback) -> Option<String> {
        if self.invocations < r.min_invocations {
            return None;
        }
        let rate = self.errors as f64 / self.invocations as f64;
        if rate >= r.error_rate {
            return Some(format!(
                "failed {} of {} invocations ({:.0}%, threshold {:.0}% over at least {})",
                self.errors,
                self.invocations,
                rate * 100.0,
                r.error_rate * 100.0,
                r.min_invocations
            ));
        }
        let (limit, (lower, upper)) = (r.p99_ms?, self.p99()?);
        // Only a p99 surely above the limit counts (its bucket starts above it).
        (lower > limit as f64).then(|| {
            format!(
                "p99 duration {lower:.0}–{upper:.0} ms over {} invocations is above the {limit} ms threshold",
                self.invocations
            )
        })
    }
}

/// Why shifts in progress should stop early: a signal, or another function of the
/// same deploy rolled back. `None` while they may go on.
pub type Stop = tokio::sync::watch::Receiver<Option<String>>;

/// The stop channel of one deploy; with `signals`, SIGINT and SIGTERM set it.
pub fn stop_channel(
    signals: bool,
) -> Result<(Arc<tokio::sync::watch::Sender<Option<String>>>, Stop)> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(None);
    let tx = Arc::new(tx);
    if signals {
        for (kind, name) in [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
        ] {
            let mut sig = signal(kind)?;
            let weak = Arc::downgrade(&tx);
            tokio::spawn(async move {
                while sig.recv().await.is_some() {
                    let Some(tx) = weak.upgrade() else { return };
                    tx.send_replace(Some(format!("cancelled by {name}")));
                }
            });
        }
    }
    Ok((tx, rx))
}

/// The steps of a strategy: (share of traffic on the new version, how long).
pub fn steps_of(strategy: ondol_core::manifest::Strategy) -> Vec<(f64, std::time::Duration)> {
    use ondol_core::manifest::Strategy;
    match strategy {
        Strategy::AllAtOnce => Vec::new(),
        Strategy::Canary { share, wait } => vec![(share, wait)],
        Strategy::Linear { step, every } => {
            let n = (1.0 / step).ceil() as usize;
            (1..n)
                .map(|i| ((step * i as f64).min(0.99), every))
                .collect()
        }
    }
}

/// Shifts traffic to the new version by a canary or linear strategy through the
/// weighted stage alias, watching the new version's error rate and p99 duration;
/// past a threshold, or when told to stop, it goes back to the old version at once
/// and fails with the reason. While the alias is split it holds a lease the server
/// enforces: if this process dies, the server puts the alias back.
pub async fn shift(
    endpoint: &str,
    s: &Switch,
    strategy: ondol_core::manifest::Strategy,
    thresholds: Rollback,
    mut stop: Stop,
    progress: &Progress,
) -> Result<()> {
    let Some(old) = &s.old else {
        return switch_all(endpoint, std::slice::from_ref(s), progress).await;
    };
    let steps = steps_of(strategy);
    if steps.is_empty() {
        put_alias(endpoint, &s.function, &s.alias, &s.new, None).await?;
        progress.done(format!("{}: version {} serves", s.function, s.new));
        return Ok(());
    }
    let (_, m) = call(endpoint, Method::GET, "/ondol/v1/metrics", None).await?;
    let base = version_counts(&m, &s.function, &s.new);
    let lease = Lease::take(endpoint, s, old).await?;
    let mut renewed = std::time::Instant::now();
    for (share, hold) in steps {
        progress.step(format!(
            "{}: {:.0}% on version {} for {:?}",
            s.function,
            share * 100.0,
            s.new,
            hold
        ));
        put_alias(endpoint, &s.function, &s.alias, old, Some((&s.new, share))).await?;
        let until = std::time::Instant::now() + hold;
        while std::time::Instant::now() < until {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                _ = stop.changed() => {}
            }
            if let Some(why) = stop.borrow().clone() {
                // No half-shifted alias is left behind.
                put_alias(endpoint, &s.function, &s.alias, old, None).await?;
                lease.release().await?;
                progress.finish();
                bail!(
                    "{why}: {} went back to version {old}, and version {} gets no traffic",
                    s.function,
                    s.new
                );
            }
            if renewed.elapsed() >= LEASE_RENEW {
                lease.renew().await?;
                renewed = std::time::Instant::now();
            }
            let (_, m) = call(endpoint, Method::GET, "/ondol/v1/metrics", None).await?;
            let window = version_counts(&m, &s.function, &s.new).since(&base);
            if let Some(why) = window.breach(&thresholds) {
                put_alias(endpoint, &s.function, &s.alias, old, None).await?;
                lease.release().await?;
                progress.finish();
                bail!(
                    "rolled back {}: version {} {why}; version {old} serves again",
                    s.function,
                    s.new,
                );
            }
        }
        progress.done(format!(
            "{}: {:.0}% on version {} held",
            s.function,
            share * 100.0,
            s.new
        ));
    }
    put_alias(endpoint, &s.function, &s.alias, &s.new, None).await?;
    lease.release().await?;
    progress.done(format!("{}: version {} serves", s.function, s.new));
    Ok(())
}

/// How long the server waits for a renewal before it reverts a split alias, and
/// how often a shifting deploy renews.
const LEASE_TTL_MS: u64 = 5000;
const LEASE_RENEW: std::time::Duration = std::time::Duration::from_secs(1);

/// This deploy's lease on a split alias.
pub struct Lease<'a> {
    endpoint: &'a str,
    path: String,
    token: String,
    revert_to: String,
}

impl<'a> Lease<'a> {
    pub async fn take(endpoint: &'a str, s: &Switch, revert_to: &str) -> Result<Lease<'a>> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let lease = Lease {
            endpoint,
            path: format!(
                "/ondol/v1/functions/{}/aliases/{}/lease",
                s.function, s.alias
            ),
            token: format!("{}-{nanos:x}", std::process::id()),
            revert_to: revert_to.to_string(),
        };
        lease.put(false).await?;
        Ok(lease)
    }

    /// Renews; fails if the lease ran out (the server already put the alias back).
    pub async fn renew(&self) -> Result<()> {
        self.put(true).await
    }

    async fn put(&self, renew: bool) -> Result<()> {
        let body = json!({ "RevertTo": self.revert_to, "TtlMs": LEASE_TTL_MS, "Token": self.token, "Renew": renew });
        let (status, _) = call(self.endpoint, Method::PUT, &self.path, Some(body)).await?;
        if status == StatusCode::NOT_FOUND {
            bail!("{}: the alias was deleted while this deploy ran", self.path);
        }
        Ok(())
    }

    pub async fn release(&self) -> Result<()> {
        let path = format!("{}?Token={}", self.path, self.token);
        call(self.endpoint, Method::DELETE, &path, None).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(inv: u64, err: u64, buckets: &[(f64, u64)]) -> Counts {
        Counts {
            invocations: inv,
            errors: err,
            durations: buckets
                .iter()
                .map(|(u, n)| (u.to_string(), (*u, *n)))
                .collect(),
        }
    }

    #[test]
    fn thresholds() {
        let r = Rollback {
            p99_ms: Some(100),
            ..Rollback::default()
        };
        assert!(
            counts(19, 19, &[(1.0, 19)]).breach(&r).is_none(),
            "too few to judge"
        );
        assert!(counts(20, 1, &[(1.0, 20)])
            .breach(&r)
            .unwrap()
            .contains("failed 1 of 20"));
        assert!(counts(100, 0, &[(1.0, 98), (500.0, 2)])
            .breach(&r)
            .unwrap()
            .contains("p99"));
        assert!(
            counts(200, 0, &[(1.0, 199), (500.0, 1)])
                .breach(&r)
                .is_none(),
            "1 in 200 is past p99"
        );
        assert!(
            counts(100, 0, &[(105.0, 100)]).breach(&r).is_none(),
            "a bucket straddling the limit is not sure"
        );
        let base = counts(10, 5, &[(1.0, 10)]);
        let w = counts(40, 5, &[(1.0, 40)]).since(&base);
        assert_eq!((w.invocations, w.errors, w.durations["1"].1), (30, 0, 30));
    }
}
