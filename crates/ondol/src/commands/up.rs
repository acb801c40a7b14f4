//! `ondol up [DIR]`: the newcomer's command. Starts the server in the foreground
//! on the default store, deploys DIR, prints the URLs and streams function logs
//! until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::api::Client;
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
    let mut serve = a.serve;
    // A developer's own server: errors say what happened unless told otherwise.
    serve.expose_errors.get_or_insert(true);
    let running = serve::start(serve).await?;
    let c = Client::new(&running.api_url);
    let report = match deploy::apply(&c, &d, &deploy::Progress::new()).await {
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
    let logs = tokio::spawn(async move { follow(&c).await });
    let res = running.wait_for_signal().await;
    logs.abort();
    res.map(|_| ExitCode::SUCCESS)
}

/// Prints every function's new log lines as they arrive.
pub async fn follow(c: &Client) {
    let mut after = 0i64;
    loop {
        let q = [format!("after_seq={after}"), "limit=1000".into()];
        if let Ok(page) = c.ondol().logs(&q).await {
            for e in page.entries {
                super::logs::print_record(&format!("[{}] ", e.function), &e.line);
                after = e.seq;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
