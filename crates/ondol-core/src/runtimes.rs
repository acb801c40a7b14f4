//! Runtime discovery: which real interpreters this machine has, with their exact
//! versions, and which one each Lambda runtime id runs on. Shared by the CLI (a
//! build installs wheels for the interpreter that will run them) and the server.
//!
//! Candidates come from `PATH` (`python3`, `python3.X`, `node`, `nodeNN`), pyenv
//! installs (`$PYENV_ROOT/versions/*/bin/python3`, never its shims: a shim costs
//! ~90 ms per start), nvm installs (`$NVM_DIR/versions/node/*/bin/node`) and
//! Debian's `/usr/bin/python3.X`. Each distinct executable is probed once per
//! process with `--version`, all at once on threads. `python3.X` runs only on a
//! CPython 3.X and `nodejsNN.x` only on a node whose major is NN; among several
//! the newest patch release wins, then the first found. An operator may point a
//! runtime at an executable or declare an explicit alias ([`parse_override`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use thiserror::Error;

/// Lambda's runtime ids that ondol serves, oldest first within each family.
pub const LAMBDA_RUNTIMES: [&str; 13] = [
    "python3.8",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "nodejs16.x",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "provided",
    "provided.al2",
    "provided.al2023",
];

/// Why a runtime cannot be resolved or an override not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuntimeError {
    /// Not one of Lambda's runtime ids.
    #[error("'{0}' is not a Lambda runtime id (expected one of {list})", list = LAMBDA_RUNTIMES.join(", "))]
    Unknown(String),
    /// A Lambda runtime this machine has no interpreter for.
    #[error("runtime {runtime} is not available on this node (it has: {offered}); install {want}, or map it to an executable with --runtime {runtime}=/path/to/{exe}")]
    Missing {
        runtime: String,
        offered: String,
        want: String,
        exe: String,
    },
    /// An operator override that cannot be read.
    #[error("runtime override '{0}': expected RUNTIME=/path/to/executable or RUNTIME=OTHER_RUNTIME (e.g. python3.12=/opt/py312/bin/python3 or python3.12=python3.11)")]
    BadOverride(String),
    /// An override naming an executable of another version.
    #[error("runtime override {runtime}={path}: that is {found}, not {runtime}; to run {runtime} on it anyway, declare an alias ({runtime}=<the runtime it is>)")]
    WrongVersion {
        runtime: String,
        path: String,
        found: String,
    },
}

/// An interpreter family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Python,
    Node,
}

impl Family {
    /// The name Lambda's INIT_START line uses (`python:3.11.7`).
    pub fn label(self) -> &'static str {
        match self {
            Family::Python => "python",
            Family::Node => "nodejs",
        }
    }
}

/// An exact interpreter version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Version {
    /// Reads `3.11.7`, `v20.20.2` or `3.13.0rc1` (trailing letters dropped).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().trim_start_matches('v').splitn(3, '.').map(|p| {
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        let major = parts.next()??;
        let minor = parts.next().flatten().unwrap_or(0);
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Self {
            major,
            minor,
            patch,
        })
    }
}

/// Where an interpreter was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Path,
    Pyenv,
    Nvm,
    System,
    Override,
}

/// A real interpreter executable and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub family: Family,
    pub version: Version,
    /// The executable (symlinks resolved).
    pub path: PathBuf,
    pub source: Source,
}

/// What a runtime id runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub runtime: String,
    /// `None` for `provided*`: the function brings its own `bootstrap`.
    pub interpreter: Option<Interpreter>,
    /// The runtime it was declared an alias of (`python3.12=python3.11`).
    pub alias_of: Option<String>,
}

impl Resolved {
    /// `python:3.11.7` as in Lambda's `INIT_START Runtime Version:` line.
    pub fn runtime_version(&self) -> String {
        match &self.interpreter {
            Some(i) => format!("{}:{}", i.family.label(), i.version),
            None => self.runtime.clone(),
        }
    }
}

/// An operator's mapping of one runtime id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Run it on this executable (which must be of the runtime's version).
    Executable(PathBuf),
    /// Run it on whatever another runtime id resolves to, and say so.
    Alias(String),
}

/// Operator overrides by runtime id.
pub type Overrides = BTreeMap<String, Target>;

/// Reads one `RUNTIME=/path` or `RUNTIME=OTHER` override.
pub fn parse_override(s: &str) -> Result<(String, Target), RuntimeError> {
    let bad = || RuntimeError::BadOverride(s.to_string());
    let (rt, target) = s.split_once('=').ok_or_else(bad)?;
    let (rt, target) = (rt.trim(), target.trim());
    let family = spec(rt)?.ok_or_else(bad)?;
    if target.starts_with('/') {
        return Ok((rt.to_string(), Target::Executable(PathBuf::from(target))));
    }
    match spec(target) {
        Ok(Some(f)) if f.0 == family.0 && target != rt => {
            Ok((rt.to_string(), Target::Alias(target.to_string())))
        }
        _ => Err(bad()),
    }
}

/// Reads a list of overrides (a flag given several times, or comma-separated).
pub fn parse_overrides<S: AsRef<str>>(items: &[S]) -> Result<Overrides, RuntimeError> {
    let mut out = Overrides::new();
    for item in items {
        for one in item.as_ref().split(',').filter(|s| !s.trim().is_empty()) {
            let (rt, t) = parse_override(one)?;
            out.insert(rt, t);
        }
    }
    Ok(out)
}

/// What a runtime id asks for: `(family, major, minor)`; `None` for `provided*`.
fn spec(runtime: &str) -> Result<Option<(Family, u32, Option<u32>)>, RuntimeError> {
    if !LAMBDA_RUNTIMES.contains(&runtime) {
        return Err(RuntimeError::Unknown(runtime.to_string()));
    }
    if let Some(minor) = runtime.strip_prefix("python3.") {
        let minor = minor
            .parse()
            .map_err(|_| RuntimeError::Unknown(runtime.into()))?;
        return Ok(Some((Family::Python, 3, Some(minor))));
    }
    if let Some(major) = runtime
        .strip_prefix("nodejs")
        .and_then(|r| r.strip_suffix(".x"))
    {
        let major = major
            .parse()
            .map_err(|_| RuntimeError::Unknown(runtime.into()))?;
        return Ok(Some((Family::Node, major, None)));
    }
    Ok(None)
}

/// Where to look, read from the environment once (tests pass their own).
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub path: Vec<PathBuf>,
    pub pyenv_root: Option<PathBuf>,
    pub nvm_dir: Option<PathBuf>,
    /// Debian's interpreters (`/usr/bin`), looked at even when not on PATH.
    pub system: Vec<PathBuf>,
}

impl Places {
    pub fn from_env() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let under_home = |var: &str, dir: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(dir)))
        };
        Self {
            path: std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
            pyenv_root: under_home("PYENV_ROOT", ".pyenv"),
            nvm_dir: under_home("NVM_DIR", ".nvm"),
            system: vec![PathBuf::from("/usr/bin")],
        }
    }
}

/// The interpreters found on this machine.
#[derive(Debug, Default)]
pub struct Discovery {
    pub interpreters: Vec<Interpreter>,
    /// Executables probed so far (overrides are probed on first use).
    probed: Mutex<HashMap<PathBuf, Option<Interpreter>>>,
}

/// This process's discovery, made on first use.
pub fn discover() -> &'static Discovery {
    static ONCE: OnceLock<Discovery> = OnceLock::new();
    ONCE.get_or_init(|| Discovery::scan(&Places::from_env()))
}

/// Whether a file name is one of the interpreters looked for.
fn wanted_name(name: &str) -> Option<Family> {
    let numbered = |rest: &str| rest.is_empty() || rest.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = name.strip_prefix("python3") {
        let minor = rest.strip_prefix('.').unwrap_or(rest);
        return (rest.is_empty()
            || (rest.starts_with('.') && !minor.is_empty() && numbered(minor)))
        .then_some(Family::Python);
    }
    let rest = name.strip_prefix("node")?;
    numbered(rest).then_some(Family::Node)
}

/// A version manager's shim directory: each shim starts the manager first.
fn is_shim_dir(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "shims")
}

fn candidates(places: &Places) -> Vec<(PathBuf, Family, Source)> {
    let mut out = Vec::new();
    let scan_dir = |dir: &Path, source: Source, out: &mut Vec<_>| {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            if let Some(f) = n.to_str().and_then(wanted_name) {
                out.push((dir.join(&n), f, source));
            }
        }
    };
    for dir in places.path.iter().filter(|d| !is_shim_dir(d)) {
        scan_dir(dir, Source::Path, &mut out);
    }
    let installs = |root: &Path| -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(root)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    if let Some(root) = &places.pyenv_root {
        for v in installs(&root.join("versions")) {
            out.push((v.join("bin/python3"), Family::Python, Source::Pyenv));
        }
    }
    if let Some(root) = &places.nvm_dir {
        for v in installs(&root.join("versions/node")) {
            out.push((v.join("bin/node"), Family::Node, Source::Nvm));
        }
    }
    for dir in &places.system {
        scan_dir(dir, Source::System, &mut out);
    }
    out
}

/// Runs `exe --version` and reads what it is; `None` if it is not a CPython or node.
fn probe(exe: &Path, family: Family) -> Option<Version> {
    let out = std::process::Command::new(exe)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .env("PYTHONNOUSERSITE", "1")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // Python 2 printed its version on stderr.
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let first = text.lines().next()?.trim();
    match family {
        Family::Python if text.contains("PyPy") => None,
        Family::Python => Version::parse(first.strip_prefix("Python ")?),
        Family::Node => Version::parse(first.strip_prefix('v')?),
    }
}

impl Discovery {
    /// Finds and probes every candidate under `places` (each executable once).
    pub fn scan(places: &Places) -> Self {
        let mut seen = HashMap::new();
        let mut unique = Vec::new();
        for (path, family, source) in candidates(places) {
            let Ok(real) = std::fs::canonicalize(&path) else {
                continue;
            };
            if seen.insert(real.clone(), ()).is_none() {
                unique.push((real, family, source));
            }
        }
        let versions: Vec<Option<Version>> = std::thread::scope(|s| {
            let handles: Vec<_> = unique
                .iter()
                .map(|(p, f, _)| s.spawn(move || probe(p, *f)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        });
        let interpreters = unique
            .into_iter()
            .zip(versions)
            .filter_map(|((path, family, source), v)| {
                Some(Interpreter {
                    family,
                    version: v?,
                    path,
                    source,
                })
            })
            .collect();
        Self {
            interpreters,
            probed: Mutex::new(HashMap::new()),
        }
    }

    /// The best interpreter found for `(family, major, minor)`: the newest patch
    /// release, then the first found.
    fn best(&self, family: Family, major: u32, minor: Option<u32>) -> Option<&Interpreter> {
        let fits = |i: &&Interpreter| {
            i.family == family
                && i.version.major == major
                && minor.is_none_or(|m| i.version.minor == m)
        };
        let mut best: Option<&Interpreter> = None;
        for i in self.interpreters.iter().filter(fits) {
            if best.is_none_or(|b| i.version > b.version) {
                best = Some(i);
            }
        }
        best
    }

    /// An operator's executable, probed once.
    fn probe_override(&self, path: &Path, family: Family) -> Option<Interpreter> {
        let mut probed = self.probed.lock().unwrap_or_else(|e| e.into_inner());
        probed
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                let real = std::fs::canonicalize(path).ok()?;
                Some(Interpreter {
                    family,
                    version: probe(&real, family)?,
                    path: real,
                    source: Source::Override,
                })
            })
            .clone()
    }

    /// What `runtime` runs on here, with the operator's overrides applied.
    pub fn resolve(&self, runtime: &str, overrides: &Overrides) -> Result<Resolved, RuntimeError> {
        let Some((family, major, minor)) = spec(runtime)? else {
            return Ok(Resolved {
                runtime: runtime.into(),
                interpreter: None,
                alias_of: None,
            });
        };
        let found = match overrides.get(runtime) {
            Some(Target::Alias(other)) => {
                // An alias of an alias is refused by going one level only.
                let mut r = self.resolve(other, &strip(overrides, runtime))?;
                r.runtime = runtime.into();
                r.alias_of = Some(other.clone());
                return Ok(r);
            }
            Some(Target::Executable(path)) => {
                let i = self.probe_override(path, family).ok_or_else(|| {
                    RuntimeError::BadOverride(format!("{runtime}={}", path.display()))
                })?;
                let fits = i.version.major == major && minor.is_none_or(|m| i.version.minor == m);
                if !fits {
                    return Err(RuntimeError::WrongVersion {
                        runtime: runtime.into(),
                        path: path.display().to_string(),
                        found: format!("{} {}", i.family.label(), i.version),
                    });
                }
                Some(i)
            }
            None => self.best(family, major, minor).cloned(),
        };
        let Some(interpreter) = found else {
            let (want, exe) = match family {
                Family::Python => (format!("CPython 3.{}", minor.unwrap_or(0)), "python3"),
                Family::Node => (format!("Node.js {major}"), "node"),
            };
            return Err(RuntimeError::Missing {
                runtime: runtime.into(),
                offered: self.offered_ids(overrides).join(", "),
                want,
                exe: exe.into(),
            });
        };
        Ok(Resolved {
            runtime: runtime.into(),
            interpreter: Some(interpreter),
            alias_of: None,
        })
    }

    /// Every Lambda runtime id with what it runs on here (`Err`: not available).
    pub fn offered(&self, overrides: &Overrides) -> Vec<Result<Resolved, RuntimeError>> {
        LAMBDA_RUNTIMES
            .iter()
            .map(|r| self.resolve(r, overrides))
            .collect()
    }

    /// The ids this node can run (for error messages).
    fn offered_ids(&self, overrides: &Overrides) -> Vec<String> {
        LAMBDA_RUNTIMES
            .iter()
            .filter(|r| match spec(r) {
                Ok(Some((f, major, minor))) => match overrides.get(**r) {
                    Some(_) => true,
                    None => self.best(f, major, minor).is_some(),
                },
                _ => true,
            })
            .map(|r| r.to_string())
            .collect()
    }
}

/// `overrides` without `runtime`'s entry and without aliases (one level only).
fn strip(overrides: &Overrides, runtime: &str) -> Overrides {
    overrides
        .iter()
        .filter(|(k, t)| k.as_str() != runtime && matches!(t, Target::Executable(_)))
        .map(|(k, t)| (k.clone(), t.clone()))
        .collect()
}

mod host;
#[cfg(test)]
mod tests;
