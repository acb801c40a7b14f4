//! `ondol dlq list|show|replay|purge FUNCTION|KEY`: inspect and re-drive the async
//! events that ran out of retries.

use std::process::ExitCode;

use anyhow::{bail, Result};
use bytes::Bytes;
use http::Method;

use crate::client::{self, DEFAULT_ENDPOINT};
use crate::names::{self, AppScope};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT, global = true)]
    endpoint: String,
    #[command(flatten)]
    scope: AppScope,
}

#[derive(clap::Subcommand)]
enum Action {
    /// List a function's dead letters.
    List {
        function: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its destination record.
    Show { function: String, id: i64 },
    /// Put dead letters back on the queue (same request ids).
    Replay {
        function: String,
        #[arg(long)]
        id: Option<i64>,
    },
    /// Delete dead letters.
    Purge {
        function: String,
        #[arg(long)]
        id: Option<i64>,
    },
}

async fn call(endpoint: &str, method: Method, path: &str) -> Result<serde_json::Value> {
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let r = client::call(method, &url, &[], Bytes::new()).await?;
    if !r.status.is_success() {
        bail!("{}", client::error_message(&r));
    }
    Ok(serde_json::from_slice(&r.body)?)
}

fn id_query(id: Option<i64>) -> String {
    id.map(|i| format!("?id={i}")).unwrap_or_default()
}

impl Action {
    fn function(&self) -> &str {
        match self {
            Action::List { function, .. }
            | Action::Show { function, .. }
            | Action::Replay { function, .. }
            | Action::Purge { function, .. } => function,
        }
    }
}

/// Prints a function's dead letters, a line each (or as JSON).
fn list(function: &str, v: &serde_json::Value, json: bool) {
    let letters = v["dead_letters"].as_array().cloned().unwrap_or_default();
    if json {
        println!("{}", serde_json::Value::Array(letters));
        return;
    }
    for l in &letters {
        let when = client::utc_time(&l["failed_ms"]);
        println!(
            "{}\t{when}\t{}\tattempts={}\t{}",
            l["id"],
            l["request_id"].as_str().unwrap_or(""),
            l["attempts"],
            l["record"]["requestContext"]["condition"]
                .as_str()
                .unwrap_or("")
        );
    }
    if letters.is_empty() {
        println!("no dead letters for {function}");
    }
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let e = &a.endpoint;
    // A key or full name, checked against the server: an unknown name is an
    // error, not an empty list.
    let name = names::resolve(e, &a.scope, a.action.function()).await?;
    let function = &name;
    match a.action {
        Action::List { json, .. } => {
            let path = format!("/ondol/v1/dlq/{}", client::encode_segment(function));
            let v = call(e, Method::GET, &path).await?;
            list(function, &v, json);
        }
        Action::Show { id, .. } => {
            let v = call(
                e,
                Method::GET,
                &format!("/ondol/v1/dlq/{}?id={id}", client::encode_segment(function)),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&v["dead_letters"][0])?);
        }
        Action::Replay { id, .. } => {
            let v = call(
                e,
                Method::POST,
                &format!(
                    "/ondol/v1/dlq/{}/replay{}",
                    client::encode_segment(function),
                    id_query(id)
                ),
            )
            .await?;
            println!("replayed {}", v["replayed"]);
        }
        Action::Purge { id, .. } => {
            let v = call(
                e,
                Method::DELETE,
                &format!(
                    "/ondol/v1/dlq/{}{}",
                    client::encode_segment(function),
                    id_query(id)
                ),
            )
            .await?;
            println!("purged {}", v["purged"]);
        }
    }
    Ok(ExitCode::SUCCESS)
}
