//! Packaging a function directory: a deterministic zip (sorted entries, fixed
//! times, modes kept), so unchanged code has an unchanged hash and is not uploaded.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// A packaged function: the zip and its base64 sha256 (Lambda's `CodeSha256`).
pub struct Package {
    pub zip: Vec<u8>,
    pub sha256: String,
}

/// Entries never shipped: caches and VCS metadata.
const SKIP: [&str; 4] = ["__pycache__", ".git", ".ondol", ".DS_Store"];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if SKIP.iter().any(|s| e.file_name() == *s) {
            continue;
        }
        let path = e.path();
        let meta =
            std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

pub fn package(dir: &Path) -> Result<Package> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for f in files {
        let rel = f.strip_prefix(dir).expect("walked under dir");
        let mode = std::fs::metadata(&f)?.permissions().mode();
        let opts = SimpleFileOptions::default()
            .unix_permissions(mode & 0o777)
            .last_modified_time(zip::DateTime::default());
        w.start_file(rel.to_string_lossy(), opts)?;
        w.write_all(&std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?)?;
    }
    let zip = w.finish()?.into_inner();
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    Ok(Package { zip, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_same_hash() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("b.py"), "x").unwrap();
        std::fs::create_dir(d.path().join("__pycache__")).unwrap();
        std::fs::write(d.path().join("__pycache__/b.pyc"), "junk").unwrap();
        let a = package(d.path()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(d.path().join("b.py"), "x").unwrap();
        assert_eq!(package(d.path()).unwrap().sha256, a.sha256);
        std::fs::write(d.path().join("b.py"), "y").unwrap();
        assert_ne!(package(d.path()).unwrap().sha256, a.sha256);
    }
}
