//! What declares a function's dependencies, found in its directory: for Python
//! `requirements.txt`, else `pyproject.toml` with `uv.lock` or `poetry.lock`, else
//! `pyproject.toml`'s `[project].dependencies`; for Node `package.json` with or
//! without `package-lock.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ondol_core::runtimes::Family;

/// How a function declares its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Requirements(PathBuf),
    /// `pyproject.toml` locked by uv: exported with `uv export --frozen`.
    Uv {
        pyproject: PathBuf,
        lock: PathBuf,
    },
    /// `pyproject.toml` locked by Poetry: exported with `poetry export`.
    Poetry {
        pyproject: PathBuf,
        lock: PathBuf,
    },
    /// `pyproject.toml` without a lock: its `[project].dependencies`.
    Pyproject(PathBuf),
    /// `package.json` + `package-lock.json`: `npm ci`.
    NpmLock {
        package: PathBuf,
        lock: PathBuf,
    },
    /// `package.json` alone: `npm install`.
    Npm(PathBuf),
}

impl Spec {
    /// The spec in `dir` for a function of `family`, if it has one.
    pub fn detect(dir: &Path, family: Family) -> Result<Option<Self>> {
        let at = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        Ok(match family {
            Family::Python => {
                if let Some(r) = at("requirements.txt") {
                    Some(Self::Requirements(r))
                } else if let Some(pyproject) = at("pyproject.toml") {
                    if let Some(lock) = at("uv.lock") {
                        Some(Self::Uv { pyproject, lock })
                    } else if let Some(lock) = at("poetry.lock") {
                        Some(Self::Poetry { pyproject, lock })
                    } else if project_dependencies(&pyproject)?.is_empty() {
                        None
                    } else {
                        Some(Self::Pyproject(pyproject))
                    }
                } else {
                    None
                }
            }
            Family::Node => at("package.json").map(|package| match at("package-lock.json") {
                Some(lock) => Self::NpmLock { package, lock },
                None => Self::Npm(package),
            }),
        })
    }

    /// The files whose content decides what is installed.
    pub fn inputs(&self) -> Vec<&Path> {
        match self {
            Self::Requirements(p) | Self::Pyproject(p) | Self::Npm(p) => vec![p],
            Self::Uv { pyproject, lock } | Self::Poetry { pyproject, lock } => {
                vec![pyproject, lock]
            }
            Self::NpmLock { package, lock } => vec![package, lock],
        }
    }

    /// The file named in progress lines and errors (the lock file where there is one).
    pub fn main_file(&self) -> &Path {
        match self {
            Self::Requirements(p) | Self::Pyproject(p) | Self::Npm(p) => p,
            Self::Uv { lock, .. } | Self::Poetry { lock, .. } | Self::NpmLock { lock, .. } => lock,
        }
    }

    pub fn declared_in(&self) -> String {
        let name = self.main_file().file_name().unwrap_or_default();
        name.to_string_lossy().into_owned()
    }

    /// The tools that install it, for progress lines.
    pub fn tool(&self) -> &'static str {
        match self {
            Self::Requirements(_) | Self::Pyproject(_) => "pip",
            Self::Uv { .. } => "uv export, pip",
            Self::Poetry { .. } => "poetry export, pip",
            Self::NpmLock { .. } => "npm ci",
            Self::Npm(_) => "npm install",
        }
    }
}

/// `[project].dependencies` of a `pyproject.toml` (PEP 621).
pub fn project_dependencies(pyproject: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(pyproject)
        .with_context(|| format!("reading {}", pyproject.display()))?;
    let t: toml::Table = text
        .parse()
        .with_context(|| format!("{}", pyproject.display()))?;
    let deps = t.get("project").and_then(|p| p.get("dependencies"));
    let Some(deps) = deps else {
        return Ok(Vec::new());
    };
    let bad = || {
        anyhow::anyhow!(
            "{}: project.dependencies: expected a list of requirement strings",
            pyproject.display()
        )
    };
    deps.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|d| d.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_first_then_locks_then_pyproject() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        assert_eq!(Spec::detect(p, Family::Python).unwrap(), None);
        std::fs::write(
            p.join("pyproject.toml"),
            "[project]\nname = \"x\"\ndependencies = [\"orjson>=3\"]\n",
        )
        .unwrap();
        assert!(matches!(
            Spec::detect(p, Family::Python).unwrap(),
            Some(Spec::Pyproject(_))
        ));
        assert_eq!(
            project_dependencies(&p.join("pyproject.toml")).unwrap(),
            ["orjson>=3"]
        );
        std::fs::write(p.join("poetry.lock"), "").unwrap();
        assert!(matches!(
            Spec::detect(p, Family::Python).unwrap(),
            Some(Spec::Poetry { .. })
        ));
        std::fs::write(p.join("uv.lock"), "").unwrap();
        assert_eq!(
            Spec::detect(p, Family::Python)
                .unwrap()
                .unwrap()
                .declared_in(),
            "uv.lock"
        );
        std::fs::write(p.join("requirements.txt"), "").unwrap();
        assert!(matches!(
            Spec::detect(p, Family::Python).unwrap(),
            Some(Spec::Requirements(_))
        ));
        assert_eq!(Spec::detect(p, Family::Node).unwrap(), None);
        std::fs::write(p.join("package.json"), "{}").unwrap();
        assert_eq!(
            Spec::detect(p, Family::Node).unwrap().unwrap().tool(),
            "npm install"
        );
    }
}
