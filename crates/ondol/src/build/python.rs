//! Python dependencies: `<interpreter> -m pip install --target`, with the
//! interpreter the function's runtime resolves to, so wheels match its version
//! and platform. Lock files are exported to a requirements list first (`uv
//! export --frozen`, `poetry export`). The tree is then compiled to bytecode that
//! is never checked against its sources (`unchecked-hash`): a function's code is
//! read-only where it runs, so bytecode not shipped would be recompiled on every
//! cold start.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};
use ondol_core::runtimes::Interpreter;

use super::spec::{project_dependencies, Spec};
use super::tool::Context;

/// The requirements list pip installs, exported from a lock file where needed.
fn requirements(ctx: &Context<'_>) -> Result<PathBuf> {
    let out = ctx.work.join("requirements.txt");
    let export = |tool: &str, args: &[&str]| -> Result<PathBuf> {
        let mut cmd = Command::new(tool);
        cmd.args(args).arg(&out).current_dir(ctx.target.dir);
        ctx.run(tool, cmd)?;
        Ok(out.clone())
    };
    match ctx.spec {
        Spec::Requirements(p) => Ok(p.clone()),
        Spec::Uv { .. } => export(
            "uv",
            &[
                "export",
                "--frozen",
                "--no-dev",
                "--no-hashes",
                "--no-emit-project",
                "--format",
                "requirements-txt",
                "--output-file",
            ],
        ),
        Spec::Poetry { .. } => export(
            "poetry",
            &[
                "export",
                "--format",
                "requirements.txt",
                "--without-hashes",
                "--output",
            ],
        ),
        Spec::Pyproject(p) => {
            let deps = project_dependencies(p)?;
            std::fs::write(&out, deps.join("\n") + "\n")
                .with_context(|| format!("writing {}", out.display()))?;
            Ok(out)
        }
        Spec::NpmLock { .. } | Spec::Npm(_) => unreachable!("a Node spec"),
    }
}

/// Installs the function's Python dependencies into `site`.
pub fn install(ctx: &Context<'_>, interp: &Interpreter, site: &Path) -> Result<()> {
    let reqs = requirements(ctx)?;
    let mut pip = Command::new(&interp.path);
    pip.args(["-m", "pip", "install", "--target"])
        .arg(site)
        .arg("--requirement")
        .arg(&reqs)
        .arg("--cache-dir")
        .arg(ctx.cache.join("pip"))
        .args([
            "--prefer-binary",
            "--no-compile",
            "--no-input",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--progress-bar",
            "off",
        ])
        // Relative paths in a requirements file are the function's.
        .current_dir(ctx.target.dir)
        // Nothing of the user's own site, nor a `user = true` pip setting (which
        // --target refuses).
        .env("PYTHONNOUSERSITE", "1")
        .env("PIP_USER", "0")
        .env_remove("PYTHONPATH");
    ctx.run("pip", pip)?;
    ctx.reporter
        .step(format!("{}: compiling dependencies", ctx.target.name));
    let mut compile = Command::new(&interp.path);
    compile
        .args(["-m", "compileall", "-q", "-j", "0"])
        .args(["--invalidation-mode", "unchecked-hash"])
        .arg(site)
        .env("PYTHONNOUSERSITE", "1")
        .env_remove("PYTHONPATH");
    // Bytecode only speeds cold starts: a file that does not compile (a test
    // fixture of some package) fails nothing.
    let _ = ctx.run("compileall", compile);
    Ok(())
}
