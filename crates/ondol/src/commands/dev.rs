//! `ondol dev [DIR]`: serve, deploy, then watch the app (its manifest and function
//! directories) and redeploy on every change, debounced. Deploys warm the new
//! version before switching, so the next request after a save is never cold and
//! never meets a half-written change; a change that fails (bad manifest, failed
//! init) is reported and the last good version keeps serving. Function logs
//! follow as in `ondol up`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::commands::{deploy, serve, up};

#[derive(clap::Args)]
pub struct DevArgs {
    /// The app directory (holding ondol.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Every `serve` flag applies.
    #[command(flatten)]
    serve: serve::Args,
}

/// Changes settle for this long before a redeploy.
const DEBOUNCE: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(250);

/// A cheap fingerprint of a tree: every file's path, size and modification time.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            if [".ondol", ".git", "__pycache__"].iter().any(|s| name == *s) {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                out.push((
                    e.path(),
                    meta.len(),
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                ));
            }
        }
    }
    out.sort();
    out
}

/// The app as the dev loop deploys it: every change goes live at once (still warmed
/// first); canaries are for shared stages, not a save in an editor.
fn load(dir: &std::path::Path) -> Result<ondol_core::manifest::Deployment> {
    let mut d = deploy::load(dir)?;
    for f in &mut d.functions {
        f.strategy = ondol_core::manifest::Strategy::AllAtOnce;
    }
    Ok(d)
}

pub async fn run(a: DevArgs) -> Result<ExitCode> {
    let d = load(&a.dir)?;
    serve::init_tracing();
    let mut serve = a.serve;
    // A developer's own server: errors say what happened unless told otherwise.
    serve.expose_errors.get_or_insert(true);
    let running = serve::start(serve).await?;
    let api = crate::api::Client::new(&running.api_url);
    let report = match deploy::apply(&api, &d, &deploy::Progress::new()).await {
        Ok(r) => r,
        Err(e) => {
            running.drain().await;
            return Err(e);
        }
    };
    println!(
        "\n{} is up; watching {} for changes:",
        d.app,
        a.dir.display()
    );
    for line in deploy::urls(&d, &report.http) {
        println!("{line}");
    }
    println!("\nfunction logs follow (Ctrl-C stops):\n");
    let logs = {
        let c = api.clone();
        tokio::spawn(async move { up::follow(&c).await })
    };
    let dir = a.dir.clone();
    let watch = async move {
        let mut last = fingerprint(&dir);
        loop {
            tokio::time::sleep(POLL).await;
            let now = fingerprint(&dir);
            if now == last {
                continue;
            }
            // Wait until the editor is done writing.
            let mut settled = now;
            loop {
                tokio::time::sleep(DEBOUNCE).await;
                let again = fingerprint(&dir);
                if again == settled {
                    break;
                }
                settled = again;
            }
            last = settled;
            let begun = std::time::Instant::now();
            let result = match load(&dir) {
                Ok(d) => deploy::apply(&api, &d, &deploy::Progress::quiet()).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(r) => println!(
                    "redeployed in {} ms: {} uploaded, {} unchanged",
                    begun.elapsed().as_millis(),
                    r.uploaded.len(),
                    r.unchanged.len()
                ),
                Err(e) => println!("not deployed, the last good version keeps serving:\n{e:#}"),
            }
        }
    };
    let res = tokio::select! {
        res = running.wait_for_signal() => res.map(|_| ExitCode::SUCCESS),
        _ = watch => Ok(ExitCode::SUCCESS),
    };
    logs.abort();
    res
}
