//! Layer files under `<data dir>/layers`: each version unpacked (with the same safe
//! extraction as function code) into `v/<name>/<version>/`, its zip beside it, and
//! every distinct list of layers a function uses merged once, in order (a later
//! layer's file wins), into a read-only `merged/<key>/` that all its instances share.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::blobs::{nanos, remove_tree, write_durably};
use crate::unzip::{self, UnzipLimits};
use crate::{BlobInfo, Error, Result};

pub struct LayerFiles {
    versions: PathBuf,
    merged: PathBuf,
    staging: PathBuf,
    limits: UnzipLimits,
}

/// A layer zip unpacked and checked, not yet kept under a version.
pub struct Staged {
    dir: PathBuf,
    zip: Vec<u8>,
    pub info: BlobInfo,
    /// Bytes the archive unpacked to.
    pub unzipped_size: u64,
}

impl LayerFiles {
    pub fn open(data_dir: &Path, limits: UnzipLimits) -> Result<Self> {
        let root = data_dir.join("layers");
        let (versions, merged, staging) = (root.join("v"), root.join("merged"), root.join("tmp"));
        for d in [&versions, &merged, &staging] {
            fs::create_dir_all(d).map_err(Error::io(d))?;
        }
        // What a crash left half-made is never referenced.
        if let Ok(rd) = fs::read_dir(&staging) {
            rd.flatten().for_each(|e| remove_tree(&e.path()));
        }
        Ok(Self {
            versions,
            merged,
            staging,
            limits,
        })
    }

    /// Unpacks and seals `zip` in a staging directory; a refused archive leaves nothing.
    pub fn stage(&self, zip: Vec<u8>) -> Result<Staged> {
        let dir = self
            .staging
            .join(format!("{}-{}", std::process::id(), nanos()));
        fs::create_dir(&dir).map_err(Error::io(&dir))?;
        let res = unzip::unpack(&zip, &dir, self.limits).and_then(|_| unzip::seal(&dir));
        if let Err(e) = res {
            remove_tree(&dir);
            return Err(e);
        }
        let unzipped_size = tree_size(&dir)?;
        Ok(Staged {
            dir,
            info: BlobInfo::of(&zip),
            zip,
            unzipped_size,
        })
    }

    /// Keeps a staged layer as `name`'s `version`.
    pub fn keep(&self, staged: Staged, name: &str, version: u32) -> Result<()> {
        let parent = self.versions.join(name);
        fs::create_dir_all(&parent).map_err(Error::io(&parent))?;
        write_durably(&parent.join(format!("{version}.zip")), &staged.zip)?;
        let dir = parent.join(version.to_string());
        fs::rename(&staged.dir, &dir).map_err(Error::io(&dir))
    }

    /// Drops a staged layer that will not be kept.
    pub fn discard(&self, staged: Staged) {
        remove_tree(&staged.dir);
    }

    /// The zip a version was published from.
    pub fn zip_path(&self, name: &str, version: u32) -> PathBuf {
        self.versions.join(name).join(format!("{version}.zip"))
    }

    /// Removes a version's files (merged directories holding it keep their links).
    pub fn remove(&self, name: &str, version: u32) {
        remove_tree(&self.versions.join(name).join(version.to_string()));
        let _ = fs::remove_file(self.zip_path(name, version));
    }

    /// The merged directory of `layers` (name, version) in order, made on first ask.
    pub fn merged(&self, layers: &[(String, u32)]) -> Result<PathBuf> {
        let dir = self.merged.join(merge_key(layers));
        if dir.exists() {
            return Ok(dir);
        }
        let tmp = self
            .staging
            .join(format!("m-{}-{}", std::process::id(), nanos()));
        fs::create_dir(&tmp).map_err(Error::io(&tmp))?;
        let res = layers
            .iter()
            .try_for_each(|(n, v)| {
                let src = self.versions.join(n).join(v.to_string());
                if !src.is_dir() {
                    return Err(Error::NotFound(format!("Layer version {n}:{v} files")));
                }
                merge_into(&src, &tmp).map_err(Error::io(&src))
            })
            .and_then(|_| unzip::seal(&tmp));
        if let Err(e) = res {
            remove_tree(&tmp);
            return Err(e);
        }
        if fs::rename(&tmp, &dir).is_err() {
            // Made by another caller first.
            remove_tree(&tmp);
        }
        Ok(dir)
    }

    /// Removes merged directories no function version uses any more.
    pub fn sweep_merged(&self, used: &[Vec<(String, u32)>]) {
        let keep: HashSet<String> = used.iter().map(|l| merge_key(l)).collect();
        if let Ok(rd) = fs::read_dir(&self.merged) {
            for e in rd.flatten() {
                if !keep.contains(&*e.file_name().to_string_lossy()) {
                    remove_tree(&e.path());
                }
            }
        }
    }
}

/// Versions are never reused, so the list of (name, version) names the content.
fn merge_key(layers: &[(String, u32)]) -> String {
    let mut h = Sha256::new();
    for (n, v) in layers {
        h.update(format!("{n}:{v}\n"));
    }
    hex::encode(&h.finalize()[..16])
}

/// Copies `src` over `dst`: directories merge, anything else replaces what is
/// there. Files are hard links (the layer's own files are read-only), links are
/// recreated as they are. Nothing in `dst` is followed: each path is checked with
/// `symlink_metadata` before it is entered.
fn merge_into(src: &Path, dst: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let (s, d) = (entry.path(), dst.join(entry.file_name()));
        let kind = entry.file_type()?;
        let there = fs::symlink_metadata(&d).ok();
        if kind.is_dir() {
            match there {
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    fs::remove_file(&d)?;
                    fs::create_dir(&d)?;
                }
                None => fs::create_dir(&d)?,
            }
            merge_into(&s, &d)?;
            continue;
        }
        match there {
            Some(m) if m.is_dir() => {
                make_writable(&d);
                fs::remove_dir_all(&d)?;
            }
            Some(_) => fs::remove_file(&d)?,
            None => {}
        }
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&s)?, &d)?;
        } else if fs::hard_link(&s, &d).is_err() {
            fs::copy(&s, &d)?;
        }
    }
    Ok(())
}

/// Directories made while merging are writable already; this is for safety if a
/// sealed tree is ever merged over.
fn make_writable(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(root, fs::Permissions::from_mode(0o755));
}

/// Bytes of the files and link targets under `root` (links are not followed).
pub fn tree_size(root: &Path) -> Result<u64> {
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(Error::io(&d))? {
            let e = e.map_err(Error::io(&d))?;
            let m = fs::symlink_metadata(e.path()).map_err(Error::io(e.path()))?;
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unzip::testzip::TestZip;

    #[test]
    fn later_layers_win_and_versions_stay_apart() {
        let data = tempfile::tempdir().unwrap();
        let files = LayerFiles::open(data.path(), UnzipLimits::default()).unwrap();
        let one = TestZip::new()
            .file("python/a.py", b"one")
            .file("python/only1.py", b"1")
            .file("bin/tool", b"x")
            .build();
        let two = TestZip::new()
            .file("python/a.py", b"two")
            .file("bin/tool/inner", b"dir now")
            .build();
        for (name, zip) in [("one", one), ("two", two)] {
            let s = files.stage(zip).unwrap();
            files.keep(s, name, 1).unwrap();
        }
        let m = files
            .merged(&[("one".into(), 1), ("two".into(), 1)])
            .unwrap();
        assert_eq!(fs::read(m.join("python/a.py")).unwrap(), b"two");
        assert_eq!(fs::read(m.join("python/only1.py")).unwrap(), b"1");
        assert!(m.join("bin/tool/inner").is_file());
        // Same list, same directory; the sweep keeps what is used.
        let again = files
            .merged(&[("one".into(), 1), ("two".into(), 1)])
            .unwrap();
        assert_eq!(m, again);
        files.sweep_merged(&[vec![("one".into(), 1), ("two".into(), 1)]]);
        assert!(m.exists());
        files.sweep_merged(&[]);
        assert!(!m.exists());
    }

    #[test]
    fn a_refused_layer_leaves_nothing() {
        let data = tempfile::tempdir().unwrap();
        let files = LayerFiles::open(data.path(), UnzipLimits::default()).unwrap();
        let bad = TestZip::new().file("../escape", b"x").build();
        assert!(matches!(files.stage(bad), Err(Error::BadArchive(_))));
        let left = fs::read_dir(data.path().join("layers/tmp"))
            .unwrap()
            .count();
        assert_eq!(left, 0);
    }
}
