//! `ondol schedules`: every schedule with its next firing and recent runs.

use std::process::ExitCode;

use anyhow::Result;

use crate::client::{self, DEFAULT_ENDPOINT};

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Runs shown per schedule.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let v: serde_json::Value = client::get_json(&a.endpoint, "/ondol/v1/schedules").await?;
    let all = v["schedules"].as_array().cloned().unwrap_or_default();
    if a.json {
        println!("{}", serde_json::Value::Array(all));
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("no schedules");
    }
    for s in &all {
        let app = match s["stage"].as_str() {
            Some(st) if st != ondol_core::manifest::DEFAULT_STAGE => {
                format!("{}@{st}", s["app"].as_str().unwrap_or(""))
            }
            _ => s["app"].as_str().unwrap_or("").to_string(),
        };
        println!(
            "{app}/{}  {}  {} ({})  next: {}",
            s["name"].as_str().unwrap_or(""),
            s["function"].as_str().unwrap_or(""),
            s["expression"].as_str().unwrap_or(""),
            s["timezone"].as_str().unwrap_or(""),
            s["next"].as_str().unwrap_or("-"),
        );
        for run in s["runs"].as_array().into_iter().flatten().take(a.runs) {
            println!(
                "    {}  {}  {}",
                client::utc_time(&run["slot_ms"]),
                run["outcome"].as_str().unwrap_or(""),
                run["request_id"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
