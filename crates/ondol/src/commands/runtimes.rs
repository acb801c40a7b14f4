//! `ondol runtimes`: the Lambda runtimes a server offers, each with the exact
//! interpreter that runs it (or why it cannot).

use std::process::ExitCode;

use anyhow::Result;

use serde::Deserialize;
use serde_json::Value;

use crate::api::reports::Runtime;
use crate::api::{Client, DEFAULT_ENDPOINT};

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    #[derive(Deserialize)]
    struct Runtimes {
        #[serde(rename = "Runtimes", default)]
        runtimes: Vec<Value>,
    }
    let all = Client::new(&a.endpoint)
        .get::<Runtimes>("/ondol/v1/runtimes")
        .await?
        .runtimes;
    if a.json {
        println!("{}", Value::Array(all));
        return Ok(ExitCode::SUCCESS);
    }
    for rt in &all {
        let rt = Runtime::deserialize(rt)?;
        let name = &rt.runtime;
        match (&rt.version, rt.path.as_deref()) {
            (Some(version), path) => {
                let alias = rt
                    .alias_of
                    .map(|a| format!("  (alias of {a})"))
                    .unwrap_or_default();
                let path = path.unwrap_or("the function's own bootstrap");
                println!("{name:<16} {version:<16} {path}{alias}");
            }
            (None, _) => println!("{name:<16} {:<16} {}", "-", rt.error),
        }
    }
    Ok(ExitCode::SUCCESS)
}
