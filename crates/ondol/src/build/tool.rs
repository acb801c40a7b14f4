//! Running an installer (pip, npm, uv, poetry): its output, stdout and stderr in
//! order, goes line by line to the progress spinner and is kept, so a failure can
//! show its tail and name the package it failed at.

use std::io::BufRead;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

use super::{Spec, Target};
use crate::progress::Progress;

/// Lines of an installer's output shown when it fails.
const TAIL: usize = 15;

/// What an install step needs to know.
pub struct Context<'a> {
    pub target: &'a Target<'a>,
    pub spec: &'a Spec,
    pub reporter: &'a Progress,
    /// A scratch directory of this build (removed afterwards).
    pub work: &'a Path,
    /// The cache root (pip's and npm's download caches live under it).
    pub cache: &'a Path,
}

impl Context<'_> {
    /// Runs `cmd` (named `tool` in messages) to the end; a failure names the
    /// function, the file, the package and shows the tail of the output.
    pub fn run(&self, tool: &str, mut cmd: Command) -> Result<Vec<String>> {
        let (reader, writer) = std::io::pipe()?;
        cmd.stdin(std::process::Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{}: {} needs {tool}, which is not installed here{}",
                self.target.label,
                self.spec.main_file().display(),
                install_hint(tool)
            ),
            Err(e) => bail!("{}: starting {tool}: {e}", self.target.label),
        };
        // The command keeps copies of the pipe's write end: closed here, so the
        // read below ends when the installer exits.
        drop(cmd);
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(reader).lines() {
            let line = line.unwrap_or_default();
            if !line.trim().is_empty() {
                let short: String = line.trim().chars().take(100).collect();
                self.reporter
                    .step(format!("{}: {tool}: {short}", self.target.name));
            }
            lines.push(line);
        }
        let status = child.wait()?;
        if status.success() {
            return Ok(lines);
        }
        let what = match failed_package(&lines) {
            Some(p) => format!("{tool} could not install {p} from"),
            None => format!("{tool} failed to install the dependencies in"),
        };
        let start = lines.len().saturating_sub(TAIL);
        let tail: Vec<String> = lines[start..].iter().map(|l| format!("    {l}")).collect();
        bail!(
            "{}: {what} {} ({status}); the last lines {tool} wrote:\n{}",
            self.target.label,
            self.spec.main_file().display(),
            tail.join("\n")
        )
    }
}

fn install_hint(tool: &str) -> &'static str {
    match tool {
        "uv" => " (install it with `pip install uv`, or use a requirements.txt)",
        "poetry" => " (install it and poetry-plugin-export with pip, or use a requirements.txt)",
        "npm" => " (install Node.js with npm)",
        _ => "",
    }
}

/// The package an installer's output says it failed at.
pub fn failed_package(lines: &[String]) -> Option<String> {
    let after = |l: &str, marker: &str| {
        l.find(marker)
            .map(|i| l[i + marker.len()..].trim().to_string())
    };
    let clean = |s: String| {
        let s = s.split(" (from").next().unwrap_or_default();
        s.trim_matches(|c| matches!(c, '\'' | '"' | '.' | ' '))
            .to_string()
    };
    let markers = [
        "No matching distribution found for ",
        "Failed building wheel for ",
        "Failed to build ",
        "Invalid requirement: ",
        "No matching version found for ",
        "404 Not Found - GET ",
    ];
    for l in lines.iter().rev() {
        if let Some(p) = markers.iter().find_map(|m| after(l, m)) {
            let p = if p.starts_with("http") {
                let last = p.rsplit('/').next().unwrap_or_default();
                last.split(' ').next().unwrap_or_default().to_string()
            } else if let Some(inner) = p.strip_suffix(')').and_then(|p| p.rsplit_once('(')) {
                // "Failed to build installable wheels for some ... projects (badpkg)"
                inner.1.to_string()
            } else {
                p
            };
            return Some(clean(p)).filter(|p| !p.is_empty());
        }
        if let Some(p) = l
            .find(" is not in this registry")
            .map(|i| l[..i].to_string())
        {
            return Some(clean(p.rsplit(' ').next().unwrap_or_default().to_string()));
        }
    }
    // pip names each package as it starts on it: the last one is where it stopped.
    lines.iter().rev().find_map(|l| {
        l.trim()
            .strip_prefix("Collecting ")
            .map(|p| clean(p.into()))
    })
}

#[cfg(test)]
mod tests {
    use super::failed_package;

    fn of(text: &str) -> Option<String> {
        failed_package(&text.lines().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn names_the_package_from_pip_and_npm_output() {
        let pip = "Collecting orjson\nERROR: Could not find a version that satisfies the requirement nosuchpkg-ondol==9.9 (from versions: none)\nERROR: No matching distribution found for nosuchpkg-ondol==9.9";
        assert_eq!(of(pip).as_deref(), Some("nosuchpkg-ondol==9.9"));
        let build = "Collecting badpkg\n  error: subprocess-exited-with-error\nERROR: Failed to build installable wheels for some pyproject.toml based projects (badpkg)";
        assert_eq!(of(build).as_deref(), Some("badpkg"));
        let npm = "npm error code E404\nnpm error 404 Not Found - GET https://registry.example/no-such-pkg-ondol - Not found\nnpm error 404  'no-such-pkg-ondol@^1.0.0' is not in this registry.";
        assert_eq!(of(npm).as_deref(), Some("no-such-pkg-ondol@^1.0.0"));
        let npm = "npm error notarget No matching version found for left-pad@99.0.0.";
        assert_eq!(of(npm).as_deref(), Some("left-pad@99.0.0"));
        assert_eq!(of("something else"), None);
    }
}
