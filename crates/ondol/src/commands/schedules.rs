//! `ondol schedules`: every schedule with its next firing and recent runs.

use std::process::ExitCode;

use anyhow::Result;

use serde::Deserialize;
use serde_json::Value;

use crate::api::reports::Schedule;
use crate::api::{self, Client, DEFAULT_ENDPOINT};

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
    #[derive(Deserialize)]
    struct Schedules {
        #[serde(default)]
        schedules: Vec<Value>,
    }
    let all = Client::new(&a.endpoint)
        .get::<Schedules>("/ondol/v1/schedules")
        .await?
        .schedules;
    if a.json {
        println!("{}", Value::Array(all));
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("no schedules");
    }
    for s in &all {
        let s = Schedule::deserialize(s)?;
        let app = match s.stage.as_deref() {
            Some(st) if st != ondol_core::manifest::DEFAULT_STAGE => format!("{}@{st}", s.app),
            _ => s.app.clone(),
        };
        println!(
            "{app}/{}  {}  {} ({})  next: {}",
            s.name,
            s.function,
            s.expression,
            s.timezone,
            s.next.as_deref().unwrap_or("-"),
        );
        for run in s.runs.iter().take(a.runs) {
            println!(
                "    {}  {}  {}",
                api::utc_time(run.slot_ms),
                run.outcome,
                run.request_id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
