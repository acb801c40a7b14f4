//! Which interpreter runs a function: its runtime id resolved through this node's
//! discovery and the operator's overrides (`ondol serve --runtime`) to a real
//! executable of exactly that version, never a shim and never a silent substitute.
//! For Python, one probe per interpreter (run with `-S -s`) gives its cache tag,
//! its prefix and its site-packages, which the sandbox hides; the bootstrap is
//! precompiled for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ondol_core::runtimes::{self as discovery, Family, Overrides, Resolved};
use ondol_core::{FunctionConfig, RuntimeKind};
use parking_lot::Mutex;

/// A resolved interpreter and what an instance of it needs.
#[derive(Debug, Clone)]
pub(crate) struct Interpreter {
    pub exe: String,
    /// Python: the bootstrap precompiled for it (~2 ms of every cold start otherwise).
    pub bootstrap: Option<PathBuf>,
    /// `python:3.11.7`, and how it was chosen, for the INIT_START line.
    pub version: String,
    /// The install it lives in, shown read-only in the sandbox.
    pub prefix: PathBuf,
    /// Its third-party package directories, hidden in the sandbox.
    pub hidden: Vec<PathBuf>,
}

pub(crate) struct Interpreters {
    overrides: Overrides,
    /// By runtime id, or `default:python3` / `default:node` for web and `provided`.
    resolved: Mutex<HashMap<String, Interpreter>>,
}

const PROBE: &str = "import sys,os,site,sysconfig\n\
print(sys.executable)\n\
print(os.pathsep.join(p for p in sys.path if p))\n\
print(sys.implementation.cache_tag)\n\
print(sys.prefix)\n\
dirs=set(site.getsitepackages())|{sysconfig.get_paths()[k] for k in ('purelib','platlib')}\n\
print(os.pathsep.join(sorted(dirs)))";

impl Interpreters {
    pub fn new(overrides: Overrides) -> Self {
        Self {
            overrides,
            resolved: Mutex::new(HashMap::new()),
        }
    }

    /// What `runtime` runs on here, or why it cannot run (names what this node
    /// has and how to add one).
    pub async fn resolve(&self, runtime: &str) -> Result<Resolved, String> {
        let (rt, overrides) = (runtime.to_string(), self.overrides.clone());
        tokio::task::spawn_blocking(move || discovery::discover().resolve(&rt, &overrides))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Every Lambda runtime id and what it runs on here.
    pub async fn offered(&self) -> Vec<Result<Resolved, String>> {
        let overrides = self.overrides.clone();
        tokio::task::spawn_blocking(move || discovery::discover().offered(&overrides))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    /// The interpreter a function's instances run on: its runtime's; for web and
    /// `provided` functions (whose command may start either), `which`'s default.
    pub async fn for_function(
        &self,
        cfg: &FunctionConfig,
        which: Family,
        runtime_dir: &Path,
    ) -> Result<Interpreter, String> {
        let runtime = match cfg.runtime_kind() {
            Some(RuntimeKind::Python | RuntimeKind::Node) => cfg.runtime.as_str(),
            _ => match which {
                Family::Python => "default:python3",
                Family::Node => "default:node",
            },
        };
        if let Some(i) = self.resolved.lock().get(runtime) {
            return Ok(i.clone());
        }
        let found = if runtime.starts_with("default:") {
            let i = tokio::task::spawn_blocking(move || discovery::discover().host_default(which))
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no {} on this server's PATH", which.label()))?;
            let label = format!("{}:{}", i.family.label(), i.version);
            let exe = i.path.display().to_string();
            self.describe(i.family, exe, label, runtime_dir).await?
        } else {
            let r = self.resolve(runtime).await?;
            let i = r.interpreter.as_ref().ok_or("no interpreter")?;
            let label = match &r.alias_of {
                Some(of) => format!(
                    "{} ({runtime} runs on {of}: the operator's alias)",
                    r.runtime_version()
                ),
                None => r.runtime_version(),
            };
            let exe = i.path.display().to_string();
            self.describe(i.family, exe, label, runtime_dir).await?
        };
        self.resolved
            .lock()
            .insert(runtime.to_string(), found.clone());
        Ok(found)
    }

    async fn describe(
        &self,
        family: Family,
        exe: String,
        version: String,
        runtime_dir: &Path,
    ) -> Result<Interpreter, String> {
        let prefix = install_prefix(Path::new(&exe));
        if family == Family::Node {
            return Ok(Interpreter {
                exe,
                bootstrap: None,
                version,
                prefix,
                hidden: Vec::new(),
            });
        }
        let text = run(&exe, &["-S", "-s", "-c", PROBE])
            .await
            .ok_or_else(|| format!("{exe} did not answer its probe"))?;
        let lines: Vec<&str> = text.lines().collect();
        let line = |n: usize| lines.get(n).copied().unwrap_or_default().to_string();
        let tag = line(2);
        let bootstrap = precompile(runtime_dir, &exe, &tag).await;
        Ok(Interpreter {
            exe,
            bootstrap,
            version,
            prefix: PathBuf::from(line(3)),
            hidden: line(4)
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
        })
    }
}

/// `/x/versions/3.11.7` for `/x/versions/3.11.7/bin/python3.11`.
fn install_prefix(exe: &Path) -> PathBuf {
    match exe.parent() {
        Some(bin) if bin.file_name().is_some_and(|n| n == "bin") => {
            bin.parent().unwrap_or(bin).to_path_buf()
        }
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("/"),
    }
}

/// Compiles the Python bootstrap for one interpreter; `None` keeps the source.
async fn precompile(runtime_dir: &Path, exe: &str, tag: &str) -> Option<PathBuf> {
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    let src = runtime_dir.join("python/bootstrap.py");
    let dst = runtime_dir.join(format!("python/bootstrap.{tag}.pyc"));
    let code =
        "import py_compile,sys;py_compile.compile(sys.argv[1],cfile=sys.argv[2],doraise=True)";
    let (s, d) = (src.display().to_string(), dst.display().to_string());
    run(exe, &["-c", code, &s, &d]).await.map(|_| dst)
}

async fn run(exe: &str, args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_above_bin() {
        assert_eq!(
            install_prefix(Path::new("/root/.pyenv/versions/3.11.7/bin/python3.11")),
            PathBuf::from("/root/.pyenv/versions/3.11.7")
        );
        assert_eq!(
            install_prefix(Path::new("/usr/bin/node")),
            PathBuf::from("/usr")
        );
        assert_eq!(
            install_prefix(Path::new("/opt/py/python")),
            PathBuf::from("/opt/py")
        );
    }
}
