//! `ondol logs NAME [--follow] [--since 10m] [--request-id ID] [--grep TEXT] [--version V | --stage S]`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::Method;

use crate::client::{self, DEFAULT_ENDPOINT};

#[derive(clap::Args)]
pub struct Args {
    /// Function name.
    name: String,
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
    let mut query = vec![
        format!("function={}", client::encode_segment(&a.name)),
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
            let (version, _) = super::release::alias_state(&a.endpoint, &a.name, &alias).await?;
            Some(version.with_context(|| format!("stage {stage} of {} is not deployed", a.name))?)
        }
        None => a.version.clone(),
    };
    if let Some(v) = &version {
        query.push(format!("version={}", client::encode_segment(v)));
    }
    let base = format!(
        "{}/ondol/v1/logs?{}",
        a.endpoint.trim_end_matches('/'),
        query.join("&")
    );
    let mut after: Option<i64> = None;
    loop {
        let url = match after {
            Some(s) => format!("{base}&after_seq={s}"),
            None => base.clone(),
        };
        let r = client::call(Method::GET, &url, &[], Bytes::new()).await?;
        if !r.status.is_success() {
            bail!("{}", client::error_message(&r));
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).context("parsing logs")?;
        for e in v["entries"].as_array().into_iter().flatten() {
            let ts = e["ts_ms"].as_i64().unwrap_or(0);
            let when = chrono::DateTime::from_timestamp_millis(ts)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default();
            println!("{when} {}", e["line"].as_str().unwrap_or_default());
            after = e["seq"].as_i64().or(after);
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
