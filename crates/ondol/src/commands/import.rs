//! `ondol import [DIR] [--stage S] [--dry-run] [--force]`: writes the `ondol.toml`
//! that a Serverless, SAM or Zappa project amounts to, with the report of every key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::import;

#[derive(clap::Args)]
pub struct Args {
    /// The project directory (with serverless.yml, template.yaml or zappa_settings.json).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The tool's stage (Serverless --stage, a samconfig environment, a Zappa stage).
    #[arg(long)]
    stage: Option<String>,
    /// Print the manifest instead of writing it.
    #[arg(long)]
    dry_run: bool,
    /// Replace an existing ondol.toml.
    #[arg(long)]
    force: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let Some((tool, source)) = import::detect(&a.dir) else {
        bail!(
            "{}: no serverless.yml, template.yaml or zappa_settings.json to import",
            a.dir.display()
        );
    };
    let imported = import::import(tool, &source, a.stage.as_deref())?;
    eprintln!(
        "{} project {}:\n{}",
        tool.name(),
        source.display(),
        imported.report
    );
    if a.dry_run {
        print!("{}", imported.manifest);
        return Ok(ExitCode::SUCCESS);
    }
    let out = a.dir.join("ondol.toml");
    if out.exists() && !a.force {
        bail!(
            "{} exists: pass --force to replace it, or --dry-run to print the import",
            out.display()
        );
    }
    std::fs::write(&out, &imported.manifest)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "wrote {} ({} key(s) not supported, listed above)",
        out.display(),
        imported.report.unsupported_count()
    );
    Ok(ExitCode::SUCCESS)
}
