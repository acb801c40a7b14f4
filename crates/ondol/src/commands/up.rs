//! `ondol up [DIR]`: the newcomer's command. Starts the server in the foreground
//! on the default store, deploys DIR, prints the URLs and streams function logs
//! until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use http::Method;

use crate::client;
use crate::commands::{deploy, serve};

#[derive(clap::Args)]
pub struct UpArgs {
    /// The app directory (holding ondol.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Every `serve` flag applies.
    #[command(flatten)]
    serve: serve::Args,
}

pub async fn run(a: UpArgs) -> Result<ExitCode> {
    // A bad manifest stops here, before anything starts.
    let d = deploy::load(&a.dir)?;
    serve::init_tracing();
    let running = serve::start(a.serve).await?;
    let report = match deploy::apply(&running.api_url, &d, &deploy::Progress::new()).await {
        Ok(r) => r,
        Err(e) => {
            running.drain().await;
            return Err(e);
        }
    };
    println!("\n{} is up:", d.app);
    for line in deploy::urls(&d, &report.http) {
        println!("{line}");
    }
    println!("\nfunction logs follow (Ctrl-C stops):\n");
    let api = running.api_url.clone();
    let logs = tokio::spawn(async move { follow(&api).await });
    let res = running.wait_for_signal().await;
    logs.abort();
    res.map(|_| ExitCode::SUCCESS)
}

/// Prints every function's new log lines as they arrive.
async fn follow(api: &str) {
    let mut after = 0i64;
    loop {
        let url = format!("{api}/ondol/v1/logs?after_seq={after}&limit=1000");
        if let Ok(r) = client::call(Method::GET, &url, &[], Bytes::new()).await {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&r.body) {
                for e in v["entries"].as_array().into_iter().flatten() {
                    println!(
                        "[{}] {}",
                        e["function"].as_str().unwrap_or(""),
                        e["line"].as_str().unwrap_or("")
                    );
                    after = e["seq"].as_i64().unwrap_or(after);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
