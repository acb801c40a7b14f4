//! Node dependencies: `npm ci --omit=dev` when there is a `package-lock.json`,
//! else `npm install --omit=dev`, run in a build directory holding copies of the
//! two files (the user's tree is never written), with the runtime's own `node`
//! first on PATH so native addons build for it.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result};
use ondol_core::runtimes::Interpreter;

use super::spec::Spec;
use super::tool::Context;

/// npm beside the runtime's node (an nvm install has its own), else PATH's.
fn npm_for(interp: &Interpreter) -> std::path::PathBuf {
    let beside = interp.path.with_file_name("npm");
    if beside.is_file() {
        beside
    } else {
        "npm".into()
    }
}

/// Installs the function's production dependencies into `site/node_modules`.
pub fn install(ctx: &Context<'_>, interp: &Interpreter, site: &Path) -> Result<()> {
    let (subcommand, files) = match ctx.spec {
        Spec::NpmLock { package, lock } => ("ci", vec![package, lock]),
        Spec::Npm(package) => ("install", vec![package]),
        _ => unreachable!("a Python spec"),
    };
    for f in files {
        let dest = ctx.work.join(f.file_name().unwrap_or_default());
        std::fs::copy(f, &dest).with_context(|| format!("copying {}", f.display()))?;
    }
    let node_dir = interp.path.parent().unwrap_or(Path::new("/"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(node_dir.to_path_buf()).chain(std::env::split_paths(&path)),
    )?;
    let mut npm = Command::new(npm_for(interp));
    npm.args([subcommand, "--omit=dev", "--no-audit", "--no-fund"])
        .arg("--cache")
        .arg(ctx.cache.join("npm"))
        .current_dir(ctx.work)
        .env("PATH", path)
        .env("NODE_ENV", "production")
        .env("npm_config_update_notifier", "false")
        .env_remove("NODE_PATH");
    ctx.run("npm", npm)?;
    let modules = ctx.work.join("node_modules");
    if modules.is_dir() {
        std::fs::rename(&modules, site.join("node_modules"))
            .with_context(|| format!("moving {}", modules.display()))?;
    }
    Ok(())
}
