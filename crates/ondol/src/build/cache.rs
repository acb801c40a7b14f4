//! The dependency cache: `$ONDOL_CACHE_DIR`, else `$XDG_CACHE_HOME/ondol`, else
//! `~/.cache/ondol`. Each install lives in `deps/<key>/` (the installed tree in
//! `site/`, its zip in `deps.zip`), keyed by a hash of the files that declare the
//! dependencies, the runtime id, the exact interpreter version and the platform.
//! An install is built in a directory of its own and renamed into place whole, so
//! a half-finished or failed one is never found, and two builds never clash.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ondol_core::runtimes::Interpreter;
use sha2::{Digest, Sha256};

use super::Spec;

/// Bumped when how ondol installs changes, so older installs are not reused.
const LAYOUT: &str = "ondol-deps-1";

/// The cache root.
pub fn root() -> Result<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("ONDOL_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("ondol")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/ondol")))
        .context("no cache directory: set ONDOL_CACHE_DIR or HOME")
}

/// One cached install.
pub struct Entry {
    root: PathBuf,
    dir: PathBuf,
}

impl Entry {
    /// The entry for `spec` installed for `runtime` on `interp` on this platform.
    pub fn of(spec: &Spec, runtime: &str, interp: &Interpreter) -> Result<Self> {
        Self::under(root()?, spec, runtime, interp)
    }

    fn under(root: PathBuf, spec: &Spec, runtime: &str, interp: &Interpreter) -> Result<Self> {
        let mut h = Sha256::new();
        for part in [
            LAYOUT,
            runtime,
            &interp.version.to_string(),
            std::env::consts::OS,
            std::env::consts::ARCH,
            if cfg!(target_env = "musl") {
                "musl"
            } else {
                "gnu"
            },
        ] {
            h.update(part.as_bytes());
            h.update(b"\0");
        }
        for f in spec.inputs() {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            h.update(f.file_name().unwrap_or_default().as_encoded_bytes());
            h.update(b"\0");
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
        let key = hex::encode(&h.finalize()[..12]);
        let dir = root.join("deps").join(format!("{runtime}-{key}"));
        Ok(Self { root, dir })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The zip of a finished install, if there is one.
    pub fn ready(&self) -> Option<PathBuf> {
        Some(self.dir.join("deps.zip")).filter(|z| z.is_file())
    }

    /// Runs `install(site, work)` in a fresh directory, zips `site`, and moves the
    /// whole into place; returns the zip. A failure leaves nothing behind.
    pub fn fill(&self, install: impl FnOnce(&Path, &Path) -> Result<()>) -> Result<PathBuf> {
        let parent = self.dir.parent().expect("entries live under deps/");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let name = self.dir.file_name().unwrap_or_default().to_string_lossy();
        let tmp = parent.join(format!(".{name}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let (site, work) = (tmp.join("site"), tmp.join("work"));
        for d in [&site, &work] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let result = install(&site, &work)
            .and_then(|()| crate::package::zip_tree(&site, &tmp.join("deps.zip")));
        let _ = std::fs::remove_dir_all(&work);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if std::fs::rename(&tmp, &self.dir).is_err() {
            if self.ready().is_none() {
                // Not a finished install (someone removed its zip): replace it.
                let _ = std::fs::remove_dir_all(&self.dir);
                let _ = std::fs::rename(&tmp, &self.dir);
            }
            // Else another build finished the same install first: keep that one.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        self.ready()
            .with_context(|| format!("no deps.zip in {}", self.dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ondol_core::runtimes::{Family, Source, Version};

    #[test]
    fn the_key_follows_the_declared_content_the_runtime_and_the_exact_version() {
        let d = tempfile::tempdir().unwrap();
        let req = d.path().join("requirements.txt");
        std::fs::write(&req, "orjson==3.10.7\n").unwrap();
        let spec = Spec::Requirements(req.clone());
        let py = |patch| Interpreter {
            family: Family::Python,
            version: Version {
                major: 3,
                minor: 11,
                patch,
            },
            path: "/usr/bin/python3.11".into(),
            source: Source::Path,
        };
        let key = |rt: &str, patch| {
            let e = Entry::under(d.path().into(), &spec, rt, &py(patch)).unwrap();
            e.dir.file_name().unwrap().to_string_lossy().into_owned()
        };
        let a = key("python3.11", 7);
        assert!(a.starts_with("python3.11-"), "{a}");
        assert_eq!(key("python3.11", 7), a);
        assert_ne!(key("python3.11", 8), a);
        assert_ne!(key("python3.12", 7), a);
        std::fs::write(&req, "orjson==3.10.6\n").unwrap();
        assert_ne!(key("python3.11", 7), a);
    }

    #[test]
    fn a_failed_install_leaves_nothing_and_a_finished_one_is_found() {
        let d = tempfile::tempdir().unwrap();
        let req = d.path().join("requirements.txt");
        std::fs::write(&req, "x\n").unwrap();
        let interp = Interpreter {
            family: Family::Python,
            version: Version {
                major: 3,
                minor: 11,
                patch: 7,
            },
            path: "/usr/bin/python3.11".into(),
            source: Source::Path,
        };
        let e = Entry::under(
            d.path().into(),
            &Spec::Requirements(req),
            "python3.11",
            &interp,
        )
        .unwrap();
        assert!(e.fill(|_, _| anyhow::bail!("pip failed")).is_err());
        assert_eq!(std::fs::read_dir(d.path().join("deps")).unwrap().count(), 0);
        assert!(e.ready().is_none());
        let zip = e
            .fill(|site, _| Ok(std::fs::write(site.join("m.py"), "x")?))
            .unwrap();
        assert_eq!(e.ready(), Some(zip));
    }
}
