//! `compile`: a function's TypeScript compiled by the project's own compiler
//! (`node_modules/.bin/tsc` or `esbuild`, found from the code directory up as Node
//! finds packages; never a global one) into a directory of the build cache, so
//! the user's tree is not written. The output keeps the handler's module path
//! with `.js`, so the handler as written runs the compiled file.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use ondol_core::manifest::Compile;
use ondol_core::runtimes::Family;

use super::Target;
use crate::progress::Progress;

/// Lines of a compiler's output shown when it fails.
const TAIL: usize = 40;

/// Source files an entry may be, in the order tried.
const EXTENSIONS: [&str; 7] = ["ts", "tsx", "mts", "cts", "js", "mjs", "cjs"];

/// A compiled tree, removed when dropped.
pub struct Compiled {
    pub dir: PathBuf,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Compiles `t` as `c` says; the error shows the compiler's own output.
pub fn run(t: &Target<'_>, c: &Compile, r: &Progress) -> Result<Compiled> {
    let label = format!("{}.compile", t.label);
    let tool = c.tool();
    let exe = find_tool(t.dir, tool).with_context(|| {
        format!(
            "{label}: needs the project's own {tool} (node_modules/.bin/{tool} in {} or above), which is not installed: run `npm install` there (with {} in devDependencies)",
            t.dir.display(),
            if tool == "tsc" { "typescript" } else { "esbuild" }
        )
    })?;
    let module = module_of(t.handler).with_context(|| {
        format!(
            "{}.handler: expected file.function, got \"{}\"",
            t.label, t.handler
        )
    })?;
    let out = Compiled {
        dir: super::cache::root()?.join("compile").join(format!(
            "{}.{}",
            t.name,
            std::process::id()
        )),
    };
    let _ = std::fs::remove_dir_all(&out.dir);
    std::fs::create_dir_all(&out.dir).with_context(|| format!("creating {}", out.dir.display()))?;
    r.step(format!("{}: compiling with {tool}", t.name));
    let mut cmd = Command::new(&exe);
    match c {
        Compile::Tsc { tsconfig } => {
            let project = t.dir.join(tsconfig.as_deref().unwrap_or("tsconfig.json"));
            if !project.is_file() {
                bail!("{label}: no {} for tsc to compile", project.display());
            }
            // rootDir pinned to the code directory: the output keeps source paths.
            cmd.arg("-p").arg(&project).arg("--outDir").arg(&out.dir);
            cmd.arg("--rootDir").arg(t.dir).args(["--noEmit", "false"]);
        }
        Compile::Esbuild { .. } => esbuild_args(&mut cmd, t, c, module, &out.dir)?,
    }
    node_first(&mut cmd, t)?;
    let o = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("{label}: starting {}", exe.display()))?;
    if !o.status.success() {
        return Err(failure(&label, tool, &o));
    }
    let js = out.dir.join(format!("{module}.js"));
    if !js.is_file() {
        bail!(
            "{label}: {tool} wrote no {module}.js for handler \"{}\" (does its configuration include {module}.ts?)",
            t.handler
        );
    }
    Ok(out)
}

/// Runs the compiler with the runtime's own `node` first on PATH (its `.bin`
/// scripts start with `#!/usr/bin/env node`).
fn node_first(cmd: &mut Command, t: &Target<'_>) -> Result<()> {
    let node = super::interpreter(t, Family::Node)?;
    let node_dir = node.path.parent().unwrap_or(Path::new("/"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(node_dir.to_path_buf()).chain(std::env::split_paths(&path)),
    )?;
    cmd.current_dir(t.dir)
        .env("PATH", path)
        .env_remove("NODE_PATH");
    Ok(())
}

/// A failed compile, with the tail of what the compiler said.
fn failure(label: &str, tool: &str, o: &std::process::Output) -> anyhow::Error {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(TAIL)..];
    let shown: Vec<String> = tail.iter().map(|l| format!("    {l}")).collect();
    anyhow::anyhow!(
        "{label}: {tool} failed ({}); its output:\n{}",
        o.status,
        shown.join("\n")
    )
}

/// esbuild's arguments: the entry, platform node, CommonJS out to the handler's path.
fn esbuild_args(
    cmd: &mut Command,
    t: &Target<'_>,
    c: &Compile,
    module: &str,
    out: &Path,
) -> Result<()> {
    let Compile::Esbuild {
        entry,
        bundle,
        minify,
        sourcemap,
        target,
        external,
    } = c
    else {
        unreachable!("esbuild options");
    };
    let entry = match entry {
        Some(e) => e.clone(),
        None => EXTENSIONS
            .iter()
            .map(|x| format!("{module}.{x}"))
            .find(|f| t.dir.join(f).is_file())
            .with_context(|| {
                format!(
                    "{}.compile: no {module}.ts (or .tsx, .mts, .js) for handler \"{}\"; name it with entry",
                    t.label, t.handler
                )
            })?,
    };
    let target = target.clone().unwrap_or_else(|| node_target(t.runtime));
    cmd.arg(entry)
        .args(["--platform=node", "--format=cjs", "--log-level=warning"])
        .arg(format!("--target={target}"))
        .arg(format!(
            "--outfile={}",
            out.join(format!("{module}.js")).display()
        ));
    if bundle.unwrap_or(true) {
        cmd.arg("--bundle");
    }
    if *minify {
        cmd.arg("--minify");
    }
    if *sourcemap {
        cmd.arg("--sourcemap");
    }
    for x in external {
        cmd.arg(format!("--external:{x}"));
    }
    Ok(())
}

/// `node20` for `nodejs20.x`.
fn node_target(runtime: &str) -> String {
    let major: String = runtime
        .trim_start_matches("nodejs")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if major.is_empty() {
        "node20".into()
    } else {
        format!("node{major}")
    }
}

/// The module a handler names: `src/handler` of `src/handler.main`.
fn module_of(handler: &str) -> Option<&str> {
    handler
        .rsplit_once('.')
        .map(|(m, _)| m)
        .filter(|m| !m.is_empty())
}

/// `node_modules/.bin/<tool>` in `dir` or the nearest parent that has it.
fn find_tool(dir: &Path, tool: &str) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(dir).ok()?;
    dir.ancestors()
        .map(|d| d.join("node_modules/.bin").join(tool))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_module_target_and_tool_lookup() {
        assert_eq!(
            module_of("src/functions/hello/handler.main"),
            Some("src/functions/hello/handler")
        );
        assert_eq!(module_of("nodot"), None);
        assert_eq!(node_target("nodejs20.x"), "node20");
        assert_eq!(node_target("nodejs"), "node20");
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("svc/fn");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(find_tool(&sub, "tsc"), None);
        std::fs::create_dir_all(d.path().join("svc/node_modules/.bin")).unwrap();
        std::fs::write(d.path().join("svc/node_modules/.bin/tsc"), "").unwrap();
        assert!(find_tool(&sub, "tsc")
            .unwrap()
            .ends_with("svc/node_modules/.bin/tsc"));
    }
}
