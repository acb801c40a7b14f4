//! `ondol dlq list|show|replay|purge FUNCTION|KEY`: inspect and re-drive the async
//! events that ran out of retries.

use std::process::ExitCode;

use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;

use crate::api::types::DeadLetter;
use crate::api::{self, Client, DEFAULT_ENDPOINT};
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

/// Prints a function's dead letters, a line each (or as JSON, as the server gave
/// them).
fn list(function: &str, letters: Vec<Value>, json: bool) -> Result<()> {
    if json {
        println!("{}", Value::Array(letters));
        return Ok(());
    }
    for l in &letters {
        let l = DeadLetter::deserialize(l)?;
        println!(
            "{}\t{}\t{}\tattempts={}\t{}",
            l.id,
            api::utc_time(l.failed_ms),
            l.request_id,
            l.attempts,
            l.condition()
        );
    }
    if letters.is_empty() {
        println!("no dead letters for {function}");
    }
    Ok(())
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let c = &Client::new(&a.endpoint);
    // A key or full name, checked against the server: an unknown name is an
    // error, not an empty list.
    let function = &names::resolve(c, &a.scope, a.action.function()).await?;
    match a.action {
        Action::List { json, .. } => {
            list(
                function,
                c.ondol().dead_letters(function, None).await?,
                json,
            )?;
        }
        Action::Show { id, .. } => {
            let letters = c.ondol().dead_letters(function, Some(id)).await?;
            let first = letters.into_iter().next().unwrap_or(Value::Null);
            println!("{}", serde_json::to_string_pretty(&first)?);
        }
        Action::Replay { id, .. } => {
            println!("replayed {}", c.ondol().replay(function, id).await?);
        }
        Action::Purge { id, .. } => {
            println!("purged {}", c.ondol().purge(function, id).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
