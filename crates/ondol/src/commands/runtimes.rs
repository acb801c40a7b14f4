//! `ondol runtimes`: the Lambda runtimes a server offers, each with the exact
//! interpreter that runs it (or why it cannot).

use std::process::ExitCode;

use anyhow::Result;

use crate::client::{self, DEFAULT_ENDPOINT};

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
    let v: serde_json::Value = client::get_json(&a.endpoint, "/ondol/v1/runtimes").await?;
    let all = v["Runtimes"].as_array().cloned().unwrap_or_default();
    if a.json {
        println!("{}", serde_json::Value::Array(all));
        return Ok(ExitCode::SUCCESS);
    }
    let s = |x: &serde_json::Value| x.as_str().unwrap_or("").to_string();
    for rt in &all {
        let name = s(&rt["runtime"]);
        match (rt["version"].as_str(), rt["path"].as_str()) {
            (Some(version), path) => {
                let alias = rt["alias_of"]
                    .as_str()
                    .map(|a| format!("  (alias of {a})"))
                    .unwrap_or_default();
                let path = path.unwrap_or("the function's own bootstrap");
                println!("{name:<16} {version:<16} {path}{alias}");
            }
            (None, _) => println!("{name:<16} {:<16} {}", "-", s(&rt["error"])),
        }
    }
    Ok(ExitCode::SUCCESS)
}
