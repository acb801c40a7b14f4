//! `ondol dlq list|show|replay|purge FUNCTION|KEY`: inspect and re-drive the async
//! events that ran out of retries.

use std::process::ExitCode;

use anyhow::{bail, Result};
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
        /// Function name, or its key in ondol.toml.
        function: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its destination record.
    Show {
        /// Function name, or its key in ondol.toml.
        function: String,
        #[command(flatten)]
        id: One,
    },
    /// Put dead letters back on the queue (same request ids).
    Replay {
        /// Function name, or its key in ondol.toml.
        function: String,
        #[command(flatten)]
        which: Which,
    },
    /// Delete dead letters (asks first on a terminal).
    Purge {
        /// Function name, or its key in ondol.toml.
        function: String,
        #[command(flatten)]
        which: Which,
        /// Do not ask; needed when stdin is not a terminal.
        #[arg(long, short)]
        yes: bool,
    },
}

/// Exactly one dead letter: `ID`, or the older `--id ID`.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct One {
    /// The dead letter's id (the first column of `dlq list`).
    #[arg(value_name = "ID")]
    id: Option<i64>,
    /// Same as ID (kept for scripts written before ID was positional).
    #[arg(long = "id", value_name = "ID", hide = true)]
    flag: Option<i64>,
}

impl One {
    fn get(&self) -> i64 {
        self.id.or(self.flag).unwrap_or_default()
    }
}

/// One dead letter (`ID`, or `--id ID`) or every one (`--all`, the default).
#[derive(clap::Args)]
#[group(multiple = false)]
struct Which {
    /// Only this dead letter (the first column of `dlq list`).
    #[arg(value_name = "ID")]
    id: Option<i64>,
    /// Same as ID (kept for scripts written before ID was positional).
    #[arg(long = "id", value_name = "ID", hide = true)]
    flag: Option<i64>,
    /// Every dead letter of the function (the default without ID).
    #[arg(long)]
    all: bool,
}

impl Which {
    /// `None` is every dead letter.
    fn get(&self) -> Option<i64> {
        self.id.or(self.flag)
    }
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

/// Asks on the terminal before `n` dead letters go; refuses outright when no one
/// is there to answer (a script must say `--yes`).
fn confirm(function: &str, n: usize) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "dlq purge would delete {n} dead letter(s) of {function}; \
             stdin is not a terminal to confirm: pass --yes"
        );
    }
    print!("delete {n} dead letter(s) of {function} for good? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
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
            let letters = c.ondol().dead_letters(function, Some(id.get())).await?;
            let first = letters.into_iter().next().unwrap_or(Value::Null);
            println!("{}", serde_json::to_string_pretty(&first)?);
        }
        Action::Replay { which, .. } => {
            println!(
                "replayed {}",
                c.ondol().replay(function, which.get()).await?
            );
        }
        Action::Purge { which, yes, .. } => {
            let id = which.get();
            if !yes {
                let n = c.ondol().dead_letters(function, id).await?.len();
                if n > 0 && !confirm(function, n)? {
                    println!("nothing purged");
                    return Ok(ExitCode::FAILURE);
                }
            }
            println!("purged {}", c.ondol().purge(function, id).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
