//! `ondol invoke NAME|KEY [--payload JSON|@file] [--qualifier Q | --stage S]`: a synchronous invocation.

use std::process::ExitCode;

use anyhow::{Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use http::Method;

use ondol_core::manifest::stage_alias;

use crate::api::{encode_segment, ApiError, Client, DEFAULT_ENDPOINT};
use crate::names::{self, AppScope};

#[derive(clap::Args)]
pub struct Args {
    /// Function name, `name:qualifier` or ARN; or its key in ondol.toml (inside
    /// the app directory or with --app).
    name: String,
    #[command(flatten)]
    scope: AppScope,
    /// The event: inline JSON, or `@path` to read a file.
    #[arg(long, default_value = "{}")]
    payload: String,
    /// Version or alias to invoke.
    #[arg(long, conflicts_with = "stage")]
    qualifier: Option<String>,
    /// Invoke the version a stage serves (its alias: `live` for `$default`).
    #[arg(long)]
    stage: Option<String>,
    /// Also print the invocation's log (the last 4 KB) to stderr.
    #[arg(long)]
    log: bool,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let payload = match a.payload.strip_prefix('@') {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {path}"))?,
        None => a.payload.into_bytes(),
    };
    let c = Client::new(&a.endpoint);
    let name = names::resolve(&c, &a.scope, &a.name).await?;
    let mut path = format!(
        "/2015-03-31/functions/{}/invocations",
        encode_segment(&name)
    );
    let qualifier = a.qualifier.or(a.stage.as_deref().map(stage_alias));
    if let Some(q) = &qualifier {
        path.push_str(&format!("?Qualifier={}", encode_segment(q)));
    }
    let mut headers = vec![];
    if a.log {
        headers.push(("X-Amz-Log-Type", "Tail".to_string()));
    }
    let r = c
        .raw(Method::POST, &path, &headers, Bytes::from(payload))
        .await?;
    if !r.status.is_success() {
        eprintln!("{}", ApiError::of(&r, None));
        return Ok(ExitCode::from(1));
    }
    if let Some(tail) = r
        .headers
        .get("x-amz-log-result")
        .and_then(|v| v.to_str().ok())
    {
        if let Ok(text) = base64::engine::general_purpose::STANDARD.decode(tail) {
            eprint!("{}", String::from_utf8_lossy(&text));
        }
    }
    println!("{}", String::from_utf8_lossy(&r.body));
    Ok(if r.headers.contains_key("x-amz-function-error") {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
