//! `ondol remove`: takes a stage of an app off the server (its routes, schedules,
//! aliases and async settings; versions no other stage serves stop), or with
//! `--everything` the whole app and its functions. The history is kept.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use http::{Method, StatusCode};
use ondol_core::manifest::{stage_alias, DEFAULT_STAGE};

use super::deploy::{call, Progress};
use super::release::{self, Switch};
use crate::client::DEFAULT_ENDPOINT;

#[derive(clap::Args)]
pub struct RemoveArgs {
    /// The app directory (its ondol.toml names the app).
    #[arg(default_value = ".")]
    dir: PathBuf,
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

pub async fn run(a: RemoveArgs) -> Result<ExitCode> {
    let app = release::app_name(&a.dir, &a.app)?;
    let e = &a.endpoint;
    let stage = (!a.everything).then_some(a.stage.as_str());
    // The app's functions are those its deploys (of this stage) published.
    let functions: BTreeSet<String> = release::history_of(e, &app, stage)
        .await?
        .iter()
        .flat_map(|d| release::strings(&d["versions"]).into_keys())
        .collect();
    let query = release::stage_query(stage);
    let (routes, _) = call(
        e,
        Method::DELETE,
        &format!("/ondol/v1/apps/{app}{query}"),
        None,
    )
    .await?;
    if functions.is_empty() && routes == StatusCode::NOT_FOUND {
        match stage {
            Some(s) => bail!("stage {s} of {app} is not deployed"),
            None => bail!("{app} is not deployed"),
        }
    }
    let progress = Progress::new();
    let Some(stage) = stage else {
        for f in &functions {
            progress.step(format!("deleting {f}"));
            call(
                e,
                Method::DELETE,
                &format!("/2015-03-31/functions/{f}"),
                None,
            )
            .await?;
            progress.done(format!("{f}: deleted"));
        }
        progress.finish();
        let none = Default::default();
        release::record(e, &app, DEFAULT_STAGE, &none, &none, "removed the app").await?;
        println!(
            "removed {app}: every stage, and {} function(s)",
            functions.len()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let alias = stage_alias(stage);
    let mut gone = Vec::new();
    for f in &functions {
        // The async settings first: a second run after a partial failure still
        // finds them.
        let mut config = format!("/2019-09-25/functions/{f}/event-invoke-config");
        if stage != DEFAULT_STAGE {
            config.push_str(&format!("?Qualifier={alias}"));
        }
        call(e, Method::DELETE, &config, None).await?;
        let (version, _) = release::alias_state(e, f, &alias).await?;
        let Some(version) = version else { continue };
        // Refused (409) while a deploy is shifting traffic through the alias.
        call(
            e,
            Method::DELETE,
            &format!("/2015-03-31/functions/{f}/aliases/{alias}"),
            None,
        )
        .await?;
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
    release::drain_old(e, &gone, &progress).await?;
    progress.finish();
    let none = Default::default();
    release::record(e, &app, stage, &none, &none, "removed").await?;
    println!(
        "removed stage {stage} of {app}: its routes, schedules and {} alias(es)",
        gone.len()
    );
    Ok(ExitCode::SUCCESS)
}
