//! `ondol remove`: takes a stage of an app off the server (its routes, schedules,
//! aliases and async settings; versions no other stage serves stop), or with
//! `--everything` the whole app and its functions. The history is kept.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use ondol_core::manifest::{stage_alias, DEFAULT_STAGE};

use super::deploy::Progress;
use super::release;
use crate::api::{stage_query, Client, DEFAULT_ENDPOINT};
use crate::rollout::{alias, history, Switch};

#[derive(clap::Args)]
pub struct RemoveArgs {
    /// The app directory (its ondol.toml names the app).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The app, by name (default: the app of the ondol.toml in DIR).
    #[arg(long)]
    app: Option<String>,
    /// The stage to remove.
    #[arg(long, default_value = DEFAULT_STAGE)]
    stage: String,
    /// Remove the whole app: every stage, and its functions with all their versions.
    #[arg(long)]
    everything: bool,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

/// `--everything`: every function of the app goes, with all its versions.
async fn remove_app(
    e: &Client,
    app: &str,
    functions: &BTreeSet<String>,
    progress: &Progress,
) -> Result<ExitCode> {
    for f in functions {
        progress.step(format!("deleting {f}"));
        e.lambda().delete_function(f).await?;
        progress.done(format!("{f}: deleted"));
    }
    progress.finish();
    let none = Default::default();
    history::record(e, app, DEFAULT_STAGE, &none, &none, "removed the app").await?;
    println!(
        "removed {app}: every stage, and {} function(s)",
        functions.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run(a: RemoveArgs) -> Result<ExitCode> {
    let app = release::app_name(&a.dir, &a.app)?;
    let e = &Client::new(&a.endpoint);
    let stage = (!a.everything).then_some(a.stage.as_str());
    // The app's functions are those its deploys (of this stage) published.
    let functions: BTreeSet<String> = e
        .ondol()
        .deploys(&app, stage)
        .await?
        .into_iter()
        .flat_map(|d| d.versions.into_keys())
        .collect();
    let had_routes = e.ondol().delete_app(&app, &stage_query(stage)).await?;
    if functions.is_empty() && !had_routes {
        match stage {
            Some(s) => bail!("stage {s} of {app} is not deployed"),
            None => bail!("{app} is not deployed"),
        }
    }
    let progress = Progress::new();
    let Some(stage) = stage else {
        return remove_app(e, &app, &functions, &progress).await;
    };
    let alias = stage_alias(stage);
    let mut gone = Vec::new();
    for f in &functions {
        // The async settings first: a second run after a partial failure still
        // finds them.
        let qualifier = (stage != DEFAULT_STAGE).then_some(alias.as_str());
        e.lambda().delete_event_config(f, qualifier).await?;
        let (version, _) = alias::state(e, f, &alias).await?;
        let Some(version) = version else { continue };
        // Refused (409) while a deploy is shifting traffic through the alias.
        e.lambda().delete_alias(f, &alias).await?;
        progress.done(format!(
            "{f}: alias {alias} removed (it served version {version})"
        ));
        gone.push(Switch {
            function: f.clone(),
            alias: alias.clone(),
            new: version.clone(),
            old: Some(version),
        });
    }
    alias::drain_old(e, &gone, &progress).await?;
    progress.finish();
    let none = Default::default();
    history::record(e, &app, stage, &none, &none, "removed").await?;
    println!(
        "removed stage {stage} of {app}: its routes, schedules and {} alias(es)",
        gone.len()
    );
    Ok(ExitCode::SUCCESS)
}
