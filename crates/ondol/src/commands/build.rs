//! `ondol build [--stage S] [FUNCTION…]`: installs each function's dependencies
//! (or finds them in the cache) and writes its package to `.ondol/build/`, as a
//! deploy would ship it, without a server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ondol_core::manifest::DEFAULT_STAGE;
use serde_json::{json, Value};

use super::deploy::{self, Progress};
use crate::build;

#[derive(clap::Args)]
pub struct Args {
    /// Functions to build (their keys in ondol.toml, or their names); all if none.
    functions: Vec<String>,
    /// The app directory (holding ondol.toml).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The stage whose configuration is built.
    #[arg(long, default_value = DEFAULT_STAGE)]
    stage: String,
    /// Print one JSON object with the result instead of progress lines.
    #[arg(long)]
    json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let d = deploy::load_stage(&a.dir, &a.stage)?;
    let began = Instant::now();
    for want in &a.functions {
        if !d
            .functions
            .iter()
            .any(|f| &f.key == want || &f.config.name == want)
        {
            let keys: Vec<&str> = d.functions.iter().map(|f| f.key.as_str()).collect();
            bail!(
                "{}: no function {want} (it has: {})",
                d.file,
                keys.join(", ")
            );
        }
    }
    let progress = if a.json {
        Progress::quiet()
    } else {
        Progress::new()
    };
    let out_dir = a.dir.join(".ondol/build");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut built = serde_json::Map::new();
    for f in &d.functions {
        let picked = a.functions.is_empty()
            || a.functions
                .iter()
                .any(|w| w == &f.key || w == &f.config.name);
        if !picked {
            continue;
        }
        let b = tokio::task::block_in_place(|| {
            build::package_function(&build::Target::of(f), &progress)
        });
        let b = match b {
            Ok(b) => b,
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        };
        let path = out_dir.join(format!("{}.zip", f.config.name));
        std::fs::write(&path, &b.package.zip)
            .with_context(|| format!("writing {}", path.display()))?;
        let deps = b.deps.as_ref().map_or(Value::Null, |d| {
            json!({
                "declared_in": d.declared_in,
                "installed": d.installed,
                "ms": d.took.as_millis() as u64,
            })
        });
        built.insert(
            f.config.name.clone(),
            json!({
                "package": path.display().to_string(),
                "bytes": b.package.zip.len(),
                "sha256": b.package.sha256,
                "dependencies": deps,
            }),
        );
    }
    progress.finish();
    if a.json {
        let out = json!({ "app": d.app, "functions": built, "duration_ms": began.elapsed().as_millis() as u64 });
        println!("{out}");
    } else {
        println!(
            "built {} function(s) of {} into {} ({} ms)",
            built.len(),
            d.app,
            out_dir.display(),
            began.elapsed().as_millis()
        );
    }
    Ok(ExitCode::SUCCESS)
}
