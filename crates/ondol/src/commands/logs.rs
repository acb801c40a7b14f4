//! `ondol logs NAME|KEY [--follow] [--since 10m] [--request-id ID] [--grep TEXT] [--version V | --stage S]`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::Method;

use serde::Deserialize;

use crate::client::{self, DEFAULT_ENDPOINT};
use crate::names::{self, AppScope, UnknownFunction};

#[derive(clap::Args)]
pub struct Args {
    /// Function name, or its key in ondol.toml (inside the app directory or with --app).
    name: String,
    #[command(flatten)]
    scope: AppScope,
    /// Keep printing new lines as they arrive.
    #[arg(long, short)]
    follow: bool,
    /// Only lines newer than this (e.g. 30s, 10m, 2h, 1d).
    #[arg(long)]
    since: Option<String>,
    /// Only the lines of one invocation.
    #[arg(long)]
    request_id: Option<String>,
    /// Only lines containing this text (ASCII case ignored).
    #[arg(long)]
    grep: Option<String>,
    /// Only one version.
    #[arg(long, conflicts_with = "stage")]
    version: Option<String>,
    /// Only the version a stage serves now.
    #[arg(long)]
    stage: Option<String>,
    /// At most this many lines (the newest).
    #[arg(long, default_value_t = 1000)]
    limit: u32,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let name = function(&a).await?;
    let base = format!(
        "{}/ondol/v1/logs?{}",
        a.endpoint.trim_end_matches('/'),
        query(&a, &name).await?.join("&")
    );
    let mut after: Option<i64> = None;
    loop {
        let url = match after {
            Some(s) => format!("{base}&after_seq={s}"),
            None => base.clone(),
        };
        let page = fetch(&url).await?;
        if after.is_none() {
            if let Some(rid) = &a.request_id {
                check_request(&page, rid, &name)?;
            }
        }
        for e in &page.entries {
            let when = chrono::DateTime::from_timestamp_millis(e.ts_ms)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default();
            println!("{when} {}", e.line);
            after = Some(e.seq);
        }
        if !a.follow {
            return Ok(ExitCode::SUCCESS);
        }
        if after.is_none() {
            after = Some(0);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The function's deployed name: a key or full name (see `names`); also a name
/// no longer deployed whose lines are still kept, so a deleted function's logs
/// stay readable.
async fn function(a: &Args) -> Result<String> {
    let e = match names::resolve(&a.endpoint, &a.scope, &a.name).await {
        Ok(name) => return Ok(name),
        Err(e) => e,
    };
    let Some(asked) = e.downcast_ref::<UnknownFunction>().map(|u| u.asked.clone()) else {
        return Err(e);
    };
    let url = format!(
        "{}/ondol/v1/logs?function={}&limit=1",
        a.endpoint.trim_end_matches('/'),
        client::encode_segment(&asked)
    );
    if fetch(&url).await?.entries.is_empty() {
        return Err(e);
    }
    Ok(asked)
}

/// The query string's parts for `name`.
async fn query(a: &Args, name: &str) -> Result<Vec<String>> {
    let mut query = vec![
        format!("function={}", client::encode_segment(name)),
        format!("limit={}", a.limit),
    ];
    if let Some(s) = &a.since {
        let d = humantime::parse_duration(s)
            .with_context(|| format!("--since {s}: expected a duration like 30s, 10m, 2h"))?;
        let since = chrono::Utc::now().timestamp_millis() - d.as_millis() as i64;
        query.push(format!("since_ms={since}"));
    }
    if let Some(r) = &a.request_id {
        query.push(format!("request_id={}", client::encode_segment(r)));
    }
    if let Some(t) = &a.grep {
        query.push(format!("text={}", client::encode_segment(t)));
    }
    let version = match &a.stage {
        Some(stage) => {
            let alias = ondol_core::manifest::stage_alias(stage);
            let (version, _) = super::release::alias_state(&a.endpoint, name, &alias).await?;
            Some(version.with_context(|| format!("stage {stage} of {name} is not deployed"))?)
        }
        None => a.version.clone(),
    };
    if let Some(v) = &version {
        query.push(format!("version={}", client::encode_segment(v)));
    }
    Ok(query)
}

/// One answer of the logs endpoint.
#[derive(Deserialize)]
struct Page {
    entries: Vec<Entry>,
    /// With a request id: whether its END or REPORT line was stored in time.
    complete: Option<bool>,
}

#[derive(Deserialize)]
struct Entry {
    seq: i64,
    ts_ms: i64,
    line: String,
}

async fn fetch(url: &str) -> Result<Page> {
    let r = client::call(Method::GET, url, &[], Bytes::new()).await?;
    if !r.status.is_success() {
        bail!("{}", client::error_message(&r));
    }
    serde_json::from_slice(&r.body).context("parsing logs")
}

/// A request id with no line is an error (the server waited for its END line);
/// one whose END line is not stored yet is still running.
fn check_request(page: &Page, rid: &str, name: &str) -> Result<()> {
    if page.entries.is_empty() {
        bail!(
            "no log lines for request {rid} of {name}: unknown request id, or another function's"
        );
    }
    if page.complete == Some(false) {
        eprintln!("request {rid} has no END line yet: still running? (--follow prints the rest)");
    }
    Ok(())
}
