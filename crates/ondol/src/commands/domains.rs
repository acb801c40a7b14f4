//! `ondol domains`: each host the deployed apps claim, in plain words: whether its
//! DNS points at the server (resolved there), and its certificate's state, from
//! `GET /ondol/v1/domains`.

use std::process::ExitCode;

use anyhow::Result;

use crate::api::{Client, DEFAULT_ENDPOINT};
use crate::tls::domains::Report;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (the server's answer as is).
    #[arg(long)]
    json: bool,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let answer = Client::new(&a.endpoint).ondol().domains().await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", render(&answer.domains));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(domains: &[Report]) -> String {
    if domains.is_empty() {
        return "no hosts: give a stage `hosts` or a route a `host` in ondol.toml\n".into();
    }
    let width = domains.iter().map(|d| d.host.len()).max().unwrap_or(0);
    let mut out = String::new();
    for d in domains {
        out.push_str(&format!("{:width$}  {}\n", d.host, d.certificate.status));
        out.push_str(&format!("  certificate: {}\n", d.certificate.says));
        out.push_str(&format!("  dns: {}\n", d.dns.says));
    }
    out
}
