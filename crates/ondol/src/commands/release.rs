//! `ondol history` (an app's deploys) and `ondol rollback` (a stage back on the
//! versions of an earlier deploy; the server warms them before the switch).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ondol_core::manifest::DEFAULT_STAGE;

use super::deploy::Progress;
use crate::api::{self, Client, DEFAULT_ENDPOINT};
use crate::rollout::history::who;

/// Which app a command is about: `--app`, else the manifest in DIR.
pub(crate) fn app_name(dir: &std::path::Path, app: &Option<String>) -> Result<String> {
    match app {
        Some(a) => Ok(a.clone()),
        None => Ok(super::deploy::load(dir)
            .context("name the app with --app, or run this in its directory")?
            .app),
    }
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// The app directory (its ondol.toml names the app).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The app, by name (default: the app of the ondol.toml in DIR).
    #[arg(long)]
    app: Option<String>,
    /// Only this stage's deploys.
    #[arg(long)]
    stage: Option<String>,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

/// `ondol history`: the app's deploys, newest first, each with its stage.
pub async fn history(a: HistoryArgs) -> Result<ExitCode> {
    let app = app_name(&a.dir, &a.app)?;
    let c = Client::new(&a.endpoint);
    for d in c.ondol().deploys(&app, a.stage.as_deref()).await? {
        let when = api::utc_time(d.at_ms);
        let versions: Vec<String> = d.versions.iter().map(|(f, v)| format!("{f}={v}")).collect();
        println!(
            "#{}  {when}  {}  {}  {}  {}",
            d.id,
            d.stage,
            d.who,
            d.outcome,
            versions.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The app directory (its ondol.toml names the app).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The app, by name (default: the app of the ondol.toml in DIR).
    #[arg(long)]
    app: Option<String>,
    /// The stage to roll back.
    #[arg(long, default_value = DEFAULT_STAGE)]
    stage: String,
    /// The history entry to go back to (default: the one before the live one).
    #[arg(long)]
    to: Option<i64>,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

/// `ondol rollback`: every function of a stage back to the versions of an earlier
/// deploy of that stage; the server warms them before the switch like any deploy.
pub async fn rollback(a: RollbackArgs) -> Result<ExitCode> {
    let app = app_name(&a.dir, &a.app)?;
    let progress = Progress::new();
    progress.step(format!("rolling back {app} ({})", a.stage));
    let c = Client::new(&a.endpoint);
    let v = c.ondol().rollback(&app, &a.stage, a.to, &who()).await;
    progress.finish();
    let v = v?;
    for s in &v.switched {
        println!(
            "{}: version {} serves (was {})",
            s.function,
            s.to,
            s.from.as_deref().unwrap_or("none")
        );
    }
    println!(
        "{app} ({}): rolled back to #{} (history #{})",
        a.stage, v.to, v.id
    );
    Ok(ExitCode::SUCCESS)
}
