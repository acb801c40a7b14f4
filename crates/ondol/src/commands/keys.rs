//! `ondol keys create|list|revoke`: API keys for routes with `api_key_required`.
//! A key's value is printed once, at creation; the server keeps only its hash.

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::api::types::{KeyInfo, NewKey};
use crate::api::{Client, DEFAULT_ENDPOINT};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT, global = true)]
    endpoint: String,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Make a key and print its value (shown only this once).
    Create {
        /// The key's name (letters, digits, - and _), used to list and revoke it.
        name: String,
        /// A usage plan of the app (`[usage_plans.NAME]` in its ondol.toml).
        #[arg(long, requires = "app")]
        plan: Option<String>,
        /// The only app the key opens (default: every app).
        #[arg(long)]
        app: Option<String>,
        /// Print JSON (with the value).
        #[arg(long)]
        json: bool,
    },
    /// Every key: name, id, prefix, app, plan, created and use of its quota.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Refuse a key from now on.
    Revoke {
        /// The name the key was created with.
        name: String,
    },
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let c = Client::new(&a.endpoint);
    let api = c.ondol();
    match a.action {
        Action::Create {
            name,
            plan,
            app,
            json,
        } => {
            let new = NewKey {
                name: &name,
                app: app.as_deref(),
                plan: plan.as_deref(),
            };
            let k = api.create_key(&new).await?;
            if json {
                println!("{}", serde_json::to_string(&k)?);
                return Ok(ExitCode::SUCCESS);
            }
            let scope = match (&k.app, &k.plan) {
                (Some(a), Some(p)) => format!("app {a}, usage plan {p}"),
                (Some(a), None) => format!("app {a}, no usage plan"),
                _ => "every app, no usage plan".into(),
            };
            println!("Created API key {name} (id {}) for {scope}.", k.id);
            println!("Its value is shown only this once; send it as the x-api-key header:\n");
            println!("  {}\n", k.value.as_deref().unwrap_or("-"));
        }
        Action::List { json } => {
            let keys = api.keys().await?;
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else {
                print_list(&keys);
            }
        }
        Action::Revoke { name } => {
            if !api.revoke_key(&name).await? {
                bail!("API key not found: {name}");
            }
            println!("Revoked API key {name}: the front door refuses it from now on.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `3/1000 per day`, `3 (no quota)`.
fn usage(k: &KeyInfo) -> String {
    let used = k.used.unwrap_or(0);
    match &k.quota {
        Some(q) => {
            let period = serde_json::to_value(q.period).unwrap_or_default();
            format!("{used}/{} per {}", q.limit, period.as_str().unwrap_or("-"))
        }
        None => format!("{used} (no quota)"),
    }
}

fn print_list(keys: &[KeyInfo]) {
    if keys.is_empty() {
        println!("no API keys (create one with: ondol keys create NAME --app APP --plan PLAN)");
        return;
    }
    println!(
        "{:<20} {:<10} {:<11} {:<16} {:<12} {:<20} USAGE",
        "NAME", "ID", "PREFIX", "APP", "PLAN", "CREATED"
    );
    for k in keys {
        let prefix = format!("{}…", k.prefix);
        println!(
            "{:<20} {:<10} {:<11} {:<16} {:<12} {:<20} {}",
            k.name,
            k.id,
            prefix,
            k.app.as_deref().unwrap_or("(all)"),
            k.plan.as_deref().unwrap_or("-"),
            k.created,
            usage(k)
        );
    }
}
