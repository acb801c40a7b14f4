//! Safe unpacking of code archives. Refused, each with the entry named: paths that
//! escape the root (`../`, absolute), symlinks pointing out of the root, more entries
//! or more uncompressed bytes than allowed (counted as written, not as declared).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Caps on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct UnzipLimits {
    /// Total uncompressed bytes (default 250 MB, Lambda's limit).
    pub max_total_bytes: u64,
    /// Number of entries (default 20,000).
    pub max_entries: usize,
}

impl Default for UnzipLimits {
    fn default() -> Self {
        Self {
            max_total_bytes: 250 * 1024 * 1024,
            max_entries: 20_000,
        }
    }
}

const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;

fn refuse(msg: String) -> Error {
    Error::BadArchive(msg)
}

/// Unpacks `zip` into `dest` (which must exist and be empty).
pub fn unpack(zip: &[u8], dest: &Path, limits: UnzipLimits) -> Result<()> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| refuse(format!("Could not unzip uploaded file: {e}")))?;
    if archive.len() > limits.max_entries {
        return Err(refuse(format!(
            "Archive has {} entries; the limit is {}",
            archive.len(),
            limits.max_entries
        )));
    }
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| refuse(format!("Could not read entry #{i}: {e}")))?;
        let raw_name = entry.name().to_string();
        let rel = entry
            .enclosed_name()
            .filter(|p| !p.as_os_str().is_empty())
            .ok_or_else(|| refuse(format!("Entry '{raw_name}' escapes the code directory")))?;
        let path = dest.join(&rel);
        let mode = entry.unix_mode().unwrap_or(0);
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(Error::io(&path))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        if mode & S_IFMT == S_IFLNK {
            let mut target = String::new();
            entry
                .read_to_string(&mut target)
                .map_err(|e| refuse(format!("Symlink entry '{raw_name}' is unreadable: {e}")))?;
            if !link_stays_inside(&rel, Path::new(&target)) {
                return Err(refuse(format!(
                    "Symlink entry '{raw_name}' points outside the code directory ('{target}')"
                )));
            }
            symlink(&target, &path).map_err(Error::io(&path))?;
            continue;
        }
        let mut out = fs::File::create(&path).map_err(Error::io(&path))?;
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| refuse(format!("Entry '{raw_name}' is corrupt: {e}")))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > limits.max_total_bytes {
                return Err(refuse(format!(
                    "Unzipped size exceeds the limit of {} bytes at entry '{raw_name}'",
                    limits.max_total_bytes
                )));
            }
            out.write_all(&buf[..n]).map_err(Error::io(&path))?;
        }
        // Keep the executable bits (a `bootstrap` must stay runnable); drop write bits.
        let exec = if mode & 0o111 != 0 { 0o555 } else { 0o444 };
        fs::set_permissions(&path, fs::Permissions::from_mode(exec)).map_err(Error::io(&path))?;
    }
    Ok(())
}

/// Whether a symlink at `rel` (relative to the root) with `target` resolves inside
/// the root, judged lexically: the archive's own links are all that exist yet.
fn link_stays_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = 0;
    let parent = rel.parent().unwrap_or(Path::new(""));
    for comp in parent.components().chain(target.components()) {
        match comp {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Makes every directory under `root` read-only (files already are).
pub fn seal(root: &Path) -> Result<()> {
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut all = Vec::new();
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).map_err(Error::io(&d))? {
            let e = e.map_err(Error::io(&d))?;
            if e.file_type().map_err(Error::io(e.path()))?.is_dir() {
                dirs.push(e.path());
            }
        }
        all.push(d);
    }
    for d in all {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o555)).map_err(Error::io(&d))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_link_check() {
        assert!(link_stays_inside(Path::new("a/l"), Path::new("../b")));
        assert!(!link_stays_inside(Path::new("l"), Path::new("../etc")));
        assert!(!link_stays_inside(
            Path::new("a/l"),
            Path::new("/etc/passwd")
        ));
        assert!(!link_stays_inside(
            Path::new("a/l"),
            Path::new("x/../../../y")
        ));
    }
}
