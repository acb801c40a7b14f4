//! `ondol keys create|list|revoke`: API keys for routes with `api_key_required`.
//! A key's value is printed once, at creation; the server keeps only its hash.

use std::process::ExitCode;

use anyhow::{bail, Result};
use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use crate::client::{self, DEFAULT_ENDPOINT};

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
    Revoke { name: String },
}

async fn call(endpoint: &str, method: Method, path: &str, body: Bytes) -> Result<Value> {
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let headers = [("content-type", "application/json".to_string())];
    let r = client::call(method, &url, &headers, body).await?;
    if !r.status.is_success() {
        bail!("{}", client::error_message(&r));
    }
    if r.body.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(&r.body)?)
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let e = &a.endpoint;
    match a.action {
        Action::Create {
            name,
            plan,
            app,
            json,
        } => {
            let body = json!({ "name": name, "app": app, "plan": plan }).to_string();
            let k = call(e, Method::POST, "/ondol/v1/keys", body.into()).await?;
            if json {
                println!("{k}");
                return Ok(ExitCode::SUCCESS);
            }
            let scope = match (k["app"].as_str(), k["plan"].as_str()) {
                (Some(a), Some(p)) => format!("app {a}, usage plan {p}"),
                (Some(a), None) => format!("app {a}, no usage plan"),
                _ => "every app, no usage plan".into(),
            };
            println!(
                "Created API key {name} (id {}) for {scope}.",
                text(&k["id"])
            );
            println!("Its value is shown only this once; send it as the x-api-key header:\n");
            println!("  {}\n", text(&k["value"]));
        }
        Action::List { json } => {
            let v = call(e, Method::GET, "/ondol/v1/keys", Bytes::new()).await?;
            let keys = v["keys"].as_array().cloned().unwrap_or_default();
            if json {
                println!("{}", Value::Array(keys));
            } else {
                print_list(&keys);
            }
        }
        Action::Revoke { name } => {
            let path = format!("/ondol/v1/keys/{}", client::encode_segment(&name));
            call(e, Method::DELETE, &path, Bytes::new()).await?;
            println!("Revoked API key {name}: the front door refuses it from now on.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// `3/1000 per day`, `3 (no quota)`.
fn usage(k: &Value) -> String {
    let used = k["used"].as_u64().unwrap_or(0);
    match k["quota"].as_object() {
        Some(q) => format!("{used}/{} per {}", q["limit"], text(&q["period"])),
        None => format!("{used} (no quota)"),
    }
}

fn print_list(keys: &[Value]) {
    if keys.is_empty() {
        println!("no API keys (create one with: ondol keys create NAME --app APP --plan PLAN)");
        return;
    }
    println!(
        "{:<20} {:<10} {:<11} {:<16} {:<12} {:<20} USAGE",
        "NAME", "ID", "PREFIX", "APP", "PLAN", "CREATED"
    );
    for k in keys {
        let prefix = format!("{}…", text(&k["prefix"]));
        println!(
            "{:<20} {:<10} {:<11} {:<16} {:<12} {:<20} {}",
            text(&k["name"]),
            text(&k["id"]),
            prefix,
            k["app"].as_str().unwrap_or("(all)"),
            text(&k["plan"]),
            text(&k["created"]),
            usage(k)
        );
    }
}
