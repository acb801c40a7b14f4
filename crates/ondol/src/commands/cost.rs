//! `ondol cost`: what this server's traffic would cost on AWS Lambda + API
//! Gateway HTTP API, month to date and projected, with budgets; and
//! `ondol cost estimate`: a what-if for a stated workload, each figure with its
//! formula.

use std::process::ExitCode;

use anyhow::Result;
use ondol_telemetry::cost::{estimate, usd, EstimateInput, Prices};
use serde::Deserialize;
use serde_json::Value;

use crate::api::reports::{CostBill, CostReport};
use crate::api::{encode_segment, Client, DEFAULT_ENDPOINT};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: Option<What>,
    /// Only one app's functions.
    #[arg(long)]
    app: Option<String>,
    /// Only the versions a stage served (`$default` for the default stage).
    #[arg(long)]
    stage: Option<String>,
    /// A month, YYYY-MM (default: this one, UTC).
    #[arg(long)]
    month: Option<String>,
    /// Price in this AWS region (default: the server's --cost-region).
    #[arg(long)]
    region: Option<String>,
    /// Subtract the monthly free tier (default: the server's --cost-free-tier).
    #[arg(long, conflicts_with = "no_free_tier")]
    free_tier: bool,
    /// Don't subtract the monthly free tier.
    #[arg(long)]
    no_free_tier: bool,
    /// Print the server's answer as JSON.
    #[arg(long)]
    json: bool,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

#[derive(clap::Subcommand)]
enum What {
    /// What a workload would cost a month: on demand, with provisioned
    /// concurrency, with a keep-warm ping, times its stages; and ondol's memory.
    Estimate(EstimateArgs),
}

#[derive(clap::Args)]
struct EstimateArgs {
    /// Requests a day.
    #[arg(long)]
    requests_per_day: f64,
    /// Each request's duration (e.g. 120ms, 1.5s).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: std::time::Duration,
    /// Configured memory, in MB.
    #[arg(long, default_value_t = 128)]
    memory: u32,
    /// Also price a keep-warm ping at this interval (e.g. 2m, 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    keep_warm: Option<std::time::Duration>,
    /// Also price this many instances of provisioned concurrency.
    #[arg(long)]
    provisioned: Option<u32>,
    /// Stages with the same traffic (dev, test, prod: 3).
    #[arg(long, default_value_t = 1)]
    stages: u32,
    /// The AWS region whose prices apply.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Subtract the monthly free tier.
    #[arg(long)]
    free_tier: bool,
    /// Print the estimate as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    if let Some(What::Estimate(e)) = a.what {
        return run_estimate(e);
    }
    let mut q = Vec::new();
    for (k, v) in [
        ("app", &a.app),
        ("stage", &a.stage),
        ("month", &a.month),
        ("region", &a.region),
    ] {
        if let Some(v) = v {
            q.push(format!("{k}={}", encode_segment(v)));
        }
    }
    if a.free_tier || a.no_free_tier {
        q.push(format!("free_tier={}", a.free_tier));
    }
    let path = format!("/ondol/v1/cost?{}", q.join("&"));
    let v: Value = Client::new(&a.endpoint).get(&path).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_report(&CostReport::deserialize(&v)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_bill(title: &str, b: &CostBill) {
    println!("{title}:");
    for l in &b.bill.lines {
        println!("  {:<24} {}", l.item, l.formula);
    }
    println!("  {:<24} {}", "total", b.total_formula);
}

fn print_report(v: &CostReport) {
    let free = if v.free_tier {
        "free tier on"
    } else {
        "free tier off"
    };
    println!(
        "{} on AWS Lambda + API Gateway HTTP API, {} ({}), {free}, prices {}",
        v.month, v.region, v.region_name, v.prices.version,
    );
    println!(
        "\n{:<28} {:>8} {:<10} {:>10} {:>14} {:>14} {:>14}",
        "FUNCTION", "VERSION", "STAGE", "REQUESTS", "GB-S", "IN MIN_WARM", "PROV. GB-S"
    );
    for f in &v.functions {
        println!(
            "{:<28} {:>8} {:<10} {:>10} {:>14.3} {:>14.3} {:>14.3}",
            f.function,
            f.version,
            f.stage.as_deref().filter(|s| !s.is_empty()).unwrap_or("-"),
            f.requests,
            f.gb_seconds,
            f.provisioned_duration_gb_seconds,
            f.provisioned_gb_seconds,
        );
    }
    println!();
    print_bill("Month to date", &v.month_to_date);
    let share = v.month_elapsed.unwrap_or(1.0) * 100.0;
    print_bill(
        &format!("Projected to month end ({share:.1} % of the month gone)"),
        &v.projected,
    );
    for b in &v.budgets {
        println!(
            "Budget {}: {} of {} ({:.0} %): {}",
            b.scope,
            usd(b.spent_usd),
            usd(b.monthly_usd),
            b.percent,
            b.state,
        );
    }
}

fn run_estimate(e: EstimateArgs) -> Result<ExitCode> {
    let input = EstimateInput {
        requests_per_day: e.requests_per_day,
        duration_ms: e.duration.as_secs_f64() * 1000.0,
        memory_mb: e.memory,
        keep_warm_minutes: e.keep_warm.map(|d| d.as_secs_f64() / 60.0),
        provisioned: e.provisioned,
        stages: e.stages.max(1),
        region: e.region,
        free_tier: e.free_tier,
    };
    let est = estimate(&Prices::builtin(), input)?;
    if e.json {
        println!("{}", serde_json::to_string_pretty(&est)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "A month (30 days) in {} ({}), prices {}:",
        est.input.region, est.region_name, est.prices
    );
    for s in &est.scenarios {
        println!("\n{}:", s.name.replace('_', " "));
        for f in &s.usage_formulas {
            println!("  {f}");
        }
        for l in &s.bill.lines {
            println!("  {:<24} {}", l.item, l.formula);
        }
        println!("  {:<24} {}", "total", s.bill.total_formula());
    }
    println!("\nondol on this node: {}", est.ondol_formula);
    Ok(ExitCode::SUCCESS)
}
