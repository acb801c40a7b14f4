//! `ondol logs NAME|KEY [--follow] [--since 10m] [--request-id ID] [--grep TEXT] [--version V | --stage S]`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::api::types::LogPage;
use crate::api::{encode_segment, Client, DEFAULT_ENDPOINT};
use crate::names::{self, AppScope, UnknownFunction};
use crate::rollout::alias;

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
    let c = Client::new(&a.endpoint);
    let name = function(&c, &a).await?;
    let base = query(&c, &a, &name).await?;
    let mut after: Option<i64> = None;
    loop {
        let mut q = base.clone();
        q.extend(after.map(|s| format!("after_seq={s}")));
        let page = c.ondol().logs(&q).await?;
        if after.is_none() {
            if let Some(rid) = &a.request_id {
                check_request(&page, rid, &name)?;
            }
        }
        for e in &page.entries {
            let when = chrono::DateTime::from_timestamp_millis(e.ts_ms)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default();
            print_record(&format!("{when} "), &e.line);
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

/// Prints one log record. Runtimes join a multi-line message (a Python traceback,
/// a Node stack) with `\r` so it stays one record, as CloudWatch keeps it one
/// event: each part gets its own line here, the continuations indented (and the
/// no-break spaces Python's bootstrap indents them with made plain).
pub fn print_record(prefix: &str, line: &str) {
    let mut parts = line.trim_end_matches('\r').split('\r');
    println!("{prefix}{}", parts.next().unwrap_or_default());
    for part in parts {
        let text = part.trim_start_matches('\u{a0}');
        let indent = part.len() - text.len();
        // A no-break space is two bytes in UTF-8.
        println!("    {:w$}{text}", "", w = indent / '\u{a0}'.len_utf8());
    }
}

/// The function's deployed name: a key or full name (see `names`); also a name
/// no longer deployed whose lines are still kept, so a deleted function's logs
/// stay readable.
async fn function(c: &Client, a: &Args) -> Result<String> {
    let e = match names::resolve(c, &a.scope, &a.name).await {
        Ok(name) => return Ok(name),
        Err(e) => e,
    };
    let Some(asked) = e.downcast_ref::<UnknownFunction>().map(|u| u.asked.clone()) else {
        return Err(e);
    };
    let q = [
        format!("function={}", encode_segment(&asked)),
        "limit=1".into(),
    ];
    if c.ondol().logs(&q).await?.entries.is_empty() {
        return Err(e);
    }
    Ok(asked)
}

/// The query string's parts for `name`.
async fn query(c: &Client, a: &Args, name: &str) -> Result<Vec<String>> {
    let mut query = vec![
        format!("function={}", encode_segment(name)),
        format!("limit={}", a.limit),
    ];
    if let Some(s) = &a.since {
        let d = humantime::parse_duration(s)
            .with_context(|| format!("--since {s}: expected a duration like 30s, 10m, 2h"))?;
        let since = chrono::Utc::now().timestamp_millis() - d.as_millis() as i64;
        query.push(format!("since_ms={since}"));
    }
    if let Some(r) = &a.request_id {
        query.push(format!("request_id={}", encode_segment(r)));
    }
    if let Some(t) = &a.grep {
        query.push(format!("text={}", encode_segment(t)));
    }
    let version = match &a.stage {
        Some(stage) => {
            let alias = ondol_core::manifest::stage_alias(stage);
            let (version, _) = alias::state(c, name, &alias).await?;
            Some(version.with_context(|| format!("stage {stage} of {name} is not deployed"))?)
        }
        None => a.version.clone(),
    };
    if let Some(v) = &version {
        query.push(format!("version={}", encode_segment(v)));
    }
    Ok(query)
}

/// A request id with no line is an error (the server waited for its END line);
/// one whose END line is not stored yet is still running.
fn check_request(page: &LogPage, rid: &str, name: &str) -> Result<()> {
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
