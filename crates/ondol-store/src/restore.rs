//! Restores a [`crate::backup`] archive into an empty data dir. The archive is
//! hostile until checked: `manifest.json` must come first; every other member
//! must be a regular file at one of the paths a backup writes (so no `..`,
//! absolute path or link can name a place outside the dir), no larger than the
//! manifest says, with the manifest's sha256. Members are written under a
//! staging dir inside the target and moved into place only once all are checked
//! and the store's references are all present.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::backup::{self, Manifest, DB_MEMBER, FORMAT, MANIFEST_MEMBER, SCHEMA_VERSION};
use crate::blobs::remove_tree;
use crate::{Error, LayerFiles, Result, UnzipLimits};

/// Largest manifest read (it lists every member).
const MAX_MANIFEST: u64 = 64 * 1024 * 1024;
/// Largest code or layer zip accepted (a zip holds at most 250 MB unpacked).
const MAX_ZIP: u64 = 256 * 1024 * 1024;
/// Largest database accepted.
const MAX_DB: u64 = 64 * 1024 * 1024 * 1024;

/// What a restore put back.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub bytes: u64,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadArchive(msg.into())
}

/// Refuses a data dir that exists and holds anything.
pub fn check_empty(dir: &Path) -> Result<()> {
    match fs::read_dir(dir) {
        Ok(mut rd) => match rd.next() {
            None => Ok(()),
            Some(e) => {
                let name = e.map(|e| e.file_name().to_string_lossy().into_owned());
                Err(bad(format!(
                    "the data dir {} is not empty (it holds {}): restore only into an empty or new directory",
                    dir.display(),
                    name.unwrap_or_default()
                )))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir)(e)),
    }
}

/// Whether `path` is a name a backup writes: the store, a code blob by its
/// sha256, or a layer version's zip.
fn allowed(path: &str) -> bool {
    let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if path == DB_MEMBER {
        return true;
    }
    if let Some(sha) = path
        .strip_prefix("blobs/")
        .and_then(|p| p.strip_suffix(".zip"))
    {
        return hex64(sha);
    }
    let Some(rest) = path
        .strip_prefix("layers/v/")
        .and_then(|p| p.strip_suffix(".zip"))
    else {
        return false;
    };
    let Some((name, v)) = rest.split_once('/') else {
        return false;
    };
    let name_ok = !name.is_empty()
        && name.len() <= 140
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    name_ok && !v.is_empty() && v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit())
}

/// Reads the archive from `input` into `dir`, which must be empty or absent.
pub fn restore(input: impl Read, dir: &Path) -> Result<Restored> {
    check_empty(dir)?;
    fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let staging = dir.join(".restore");
    fs::create_dir(&staging).map_err(Error::io(&staging))?;
    let res = unpack(input, Some(&staging)).and_then(|r| install(&staging, dir, r));
    remove_tree(&staging);
    if res.is_err() {
        // Leave the dir as empty as it was found.
        if let Ok(rd) = fs::read_dir(dir) {
            rd.flatten().for_each(|e| remove_tree(&e.path()));
        }
    }
    res
}

/// Checks an archive as a restore would, writing nothing.
pub fn verify(input: impl Read) -> Result<Restored> {
    unpack(input, None)
}

/// Reads and checks every member, writing each under `staging` if given.
fn unpack(input: impl Read, staging: Option<&Path>) -> Result<Restored> {
    let mut ar = tar::Archive::new(input);
    let mut entries = ar.entries().map_err(Error::io("the archive"))?;
    let manifest = read_manifest(entries.next())?;
    let expected: BTreeMap<&str, &backup::Member> = manifest
        .members
        .iter()
        .map(|m| (m.path.as_str(), m))
        .collect();
    let mut seen = BTreeMap::new();
    let mut bytes = 0;
    for entry in entries {
        let mut e = entry.map_err(|e| bad(format!("unreadable archive: {e}")))?;
        let path = member_path(&e)?;
        let Some(m) = expected.get(path.as_str()) else {
            return Err(bad(format!(
                "member {path:?} is not listed in the manifest"
            )));
        };
        if seen.insert(path.clone(), ()).is_some() {
            return Err(bad(format!("member {path:?} appears twice")));
        }
        let size = e.header().size().map_err(|e| bad(e.to_string()))?;
        if size != m.size {
            return Err(bad(format!(
                "member {path:?} is {size} bytes, the manifest says {}",
                m.size
            )));
        }
        let mut out = match staging {
            Some(s) => Some(create(&s.join(&path), s)?),
            None => None,
        };
        let mut hash = Sha256::new();
        let n = copy_bounded(&mut (&mut e).take(m.size), out.as_mut(), &mut hash, &path)?;
        if n != m.size || hex::encode(hash.finalize()) != m.sha256 {
            return Err(bad(format!(
                "member {path:?} does not match its sha256 in the manifest"
            )));
        }
        if let Some(f) = out {
            f.sync_all().map_err(Error::io(&path))?;
        }
        bytes += n;
    }
    if let Some(m) = manifest
        .members
        .iter()
        .find(|m| !seen.contains_key(&m.path))
    {
        return Err(bad(format!(
            "member {:?} is in the manifest but not in the archive",
            m.path
        )));
    }
    Ok(Restored { manifest, bytes })
}

fn read_manifest<R: Read>(first: Option<std::io::Result<tar::Entry<'_, R>>>) -> Result<Manifest> {
    let mut e = first
        .ok_or_else(|| bad("empty archive"))?
        .map_err(|e| bad(format!("unreadable archive: {e}")))?;
    if member_path(&e).ok().as_deref() != Some(MANIFEST_MEMBER) {
        return Err(bad(
            "not an ondol backup: manifest.json is not its first member",
        ));
    }
    let size = e.header().size().map_err(|e| bad(e.to_string()))?;
    if size > MAX_MANIFEST {
        return Err(bad(format!(
            "manifest.json is {size} bytes, over {MAX_MANIFEST}"
        )));
    }
    let mut buf = Vec::new();
    (&mut e)
        .take(size)
        .read_to_end(&mut buf)
        .map_err(Error::io("manifest.json"))?;
    let m: Manifest =
        serde_json::from_slice(&buf).map_err(|e| bad(format!("manifest.json: {e}")))?;
    if m.format > FORMAT || m.schema_version > SCHEMA_VERSION {
        return Err(bad(format!(
            "the backup was made by ondol {} (format {}, schema {}), newer than this one (format {FORMAT}, schema {SCHEMA_VERSION}): restore it with that version or newer",
            m.ondol_version, m.format, m.schema_version
        )));
    }
    for member in &m.members {
        let cap = if member.path == DB_MEMBER {
            MAX_DB
        } else {
            MAX_ZIP
        };
        if !allowed(&member.path) {
            return Err(bad(format!(
                "member {:?} is not a path a backup writes",
                member.path
            )));
        }
        if member.size > cap {
            return Err(bad(format!(
                "member {:?} is {} bytes, over the limit of {cap}",
                member.path, member.size
            )));
        }
    }
    Ok(m)
}

/// A regular file's path, or why the member is refused.
fn member_path<R: Read>(e: &tar::Entry<'_, R>) -> Result<String> {
    let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
    if e.header().entry_type() != tar::EntryType::Regular {
        return Err(bad(format!(
            "member {raw:?} is not a regular file (links and devices are refused)"
        )));
    }
    if raw != MANIFEST_MEMBER && !allowed(&raw) {
        return Err(bad(format!("member {raw:?} is not a path a backup writes")));
    }
    Ok(raw)
}

/// A new file (never an existing one or through a link) under `staging`.
fn create(dest: &Path, staging: &Path) -> Result<File> {
    let parent = dest.parent().unwrap_or(staging);
    fs::create_dir_all(parent).map_err(Error::io(parent))?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(Error::io(dest))
}

fn copy_bounded(
    r: &mut impl Read,
    mut out: Option<&mut File>,
    hash: &mut Sha256,
    path: &str,
) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = r
            .read(&mut buf)
            .map_err(|e| bad(format!("truncated archive: {e}")))?;
        if k == 0 {
            return Ok(n);
        }
        hash.update(&buf[..k]);
        if let Some(out) = out.as_deref_mut() {
            out.write_all(&buf[..k]).map_err(Error::io(path))?;
        }
        n += k as u64;
    }
}

/// Checks the store's references against what arrived, then moves it all into
/// `dir` and unpacks the layers (code is unpacked by the server on first use).
fn install(staging: &Path, dir: &Path, r: Restored) -> Result<Restored> {
    let db = staging.join(DB_MEMBER);
    let (_, wanted) = backup::referenced(&db)?;
    if let Some(missing) = wanted.iter().find(|m| !staging.join(m).exists()) {
        return Err(bad(format!(
            "the store references {missing}, which the archive lacks"
        )));
    }
    let blobs = dir.join("blobs");
    fs::create_dir_all(&blobs).map_err(Error::io(&blobs))?;
    let from = staging.join("blobs");
    if let Ok(rd) = fs::read_dir(&from) {
        for e in rd.flatten() {
            let to = blobs.join(e.file_name());
            fs::rename(e.path(), &to).map_err(Error::io(&to))?;
        }
    }
    let layers = LayerFiles::open(dir, UnzipLimits::default())?;
    for m in wanted.iter().filter(|m| m.starts_with("layers/")) {
        let (name, v) = layer_of(m);
        let zip = fs::read(staging.join(m)).map_err(Error::io(m))?;
        let staged = layers.stage(zip)?;
        layers.keep(staged, name, v)?;
    }
    let to: PathBuf = dir.join(DB_MEMBER);
    fs::rename(&db, &to).map_err(Error::io(&to))?;
    Ok(r)
}

fn layer_of(member: &str) -> (&str, u32) {
    let rest = &member["layers/v/".len()..member.len() - ".zip".len()];
    let (name, v) = rest.split_once('/').unwrap_or((rest, "0"));
    (name, v.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_a_backup_writes_are_allowed() {
        assert!(allowed("ondol.db"));
        assert!(allowed(&format!("blobs/{}.zip", "a".repeat(64))));
        assert!(allowed("layers/v/my-layer_1/3.zip"));
        for p in [
            "../x",
            "/etc/passwd",
            "blobs/../../x.zip",
            "blobs/abc.zip",
            "layers/v/../1.zip",
            "layers/v/a/b/1.zip",
            "layers/v/a/1x.zip",
            "ondol.db/x",
            "./ondol.db",
        ] {
            assert!(!allowed(p), "{p}");
        }
    }
}
