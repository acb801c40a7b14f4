//! Content-addressed code blobs: `blobs/<sha256>.zip`, unpacked once into
//! `code/<sha256>/`, read-only. Unpacking happens before the blob is kept, so a
//! refused archive leaves nothing behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::layer_files::{tree_size, LayerFiles};
use crate::unzip::{self, UnzipLimits};
use crate::{Error, Result};

/// The identity of a stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub sha256_hex: String,
    /// Base64 of the raw digest, as Lambda's `CodeSha256`.
    pub sha256_b64: String,
    pub size: u64,
}

impl BlobInfo {
    pub fn of(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        Self {
            sha256_hex: hex::encode(digest),
            sha256_b64: base64::engine::general_purpose::STANDARD.encode(digest),
            size: bytes.len() as u64,
        }
    }

    /// The base64 digest from a stored hex one.
    pub fn b64_of_hex(hex_digest: &str) -> String {
        let raw = hex::decode(hex_digest).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

pub struct Blobs {
    blobs: PathBuf,
    code: PathBuf,
    limits: UnzipLimits,
    /// Layer versions and their merged views, unpacked with the same limits.
    pub layers: LayerFiles,
}

impl Blobs {
    pub fn open(data_dir: &Path, limits: UnzipLimits) -> Result<Self> {
        let blobs = data_dir.join("blobs");
        let code = data_dir.join("code");
        for d in [&blobs, &code] {
            fs::create_dir_all(d).map_err(Error::io(d))?;
        }
        Ok(Self {
            blobs,
            code,
            limits,
            layers: LayerFiles::open(data_dir, limits)?,
        })
    }

    /// Validates and unpacks `zip`, then keeps it. Idempotent per content.
    pub fn put(&self, zip: &[u8]) -> Result<BlobInfo> {
        let info = BlobInfo::of(zip);
        let dir = self.code_dir(&info.sha256_hex);
        if !dir.exists() {
            let tmp = tempdir_in(&self.code)?;
            let res = unzip::unpack(zip, &tmp, self.limits).and_then(|_| unzip::seal(&tmp));
            if let Err(e) = res {
                remove_tree(&tmp);
                return Err(e);
            }
            if fs::rename(&tmp, &dir).is_err() {
                // Another writer unpacked the same content first.
                remove_tree(&tmp);
            }
        }
        let path = self.blobs.join(format!("{}.zip", info.sha256_hex));
        if !path.exists() {
            write_durably(&path, zip)?;
        }
        Ok(info)
    }

    /// The unpacked code root of a blob, unpacking it again if it went missing.
    pub fn code_dir_checked(&self, sha256_hex: &str) -> Result<PathBuf> {
        let dir = self.code_dir(sha256_hex);
        if dir.exists() {
            return Ok(dir);
        }
        let path = self.blobs.join(format!("{sha256_hex}.zip"));
        let zip = fs::read(&path).map_err(Error::io(&path))?;
        self.put(&zip)?;
        Ok(dir)
    }

    /// The zip itself (for GetFunction's code location).
    pub fn zip_path(&self, sha256_hex: &str) -> PathBuf {
        self.blobs.join(format!("{sha256_hex}.zip"))
    }

    /// Bytes a blob's code unpacked to (for the code-plus-layers limit).
    pub fn unzipped_size(&self, sha256_hex: &str) -> Result<u64> {
        tree_size(&self.code_dir_checked(sha256_hex)?)
    }

    fn code_dir(&self, sha256_hex: &str) -> PathBuf {
        self.code.join(sha256_hex)
    }
}

fn tempdir_in(parent: &Path) -> Result<PathBuf> {
    let name = format!(".tmp-{}-{}", std::process::id(), nanos());
    let p = parent.join(name);
    fs::create_dir(&p).map_err(Error::io(&p))?;
    Ok(p)
}

pub(crate) fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Removes a tree whose directories were sealed read-only.
pub(crate) fn remove_tree(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o755));
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
        }
    }
    let _ = fs::remove_dir_all(root);
}

pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", nanos()));
    let mut f = fs::File::create(&tmp).map_err(Error::io(&tmp))?;
    f.write_all(bytes).map_err(Error::io(&tmp))?;
    f.sync_all().map_err(Error::io(&tmp))?;
    fs::rename(&tmp, path).map_err(Error::io(path))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
