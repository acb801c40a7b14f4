//! Backups: a consistent copy of the store (SQLite's online backup API, one read
//! transaction) and the code blobs and layer zips that copy references, written as
//! one tar archive whose first member, `manifest.json`, gives each member's size
//! and sha256. Blobs and layer zips are immutable and content-addressed, so they
//! are copied without a lock. [`crate::restore`] reads the archive back.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blobs::nanos;
use crate::{Blobs, Error, FunctionRecord, LayerVersionRecord, Result};

/// The archive layout's version; a restore refuses a newer one.
pub const FORMAT: u32 = 1;
/// The store's schema version (tables and record shapes).
pub const SCHEMA_VERSION: u32 = 1;
/// The store's member name, in the archive and in the data dir.
pub const DB_MEMBER: &str = "ondol.db";
pub const MANIFEST_MEMBER: &str = "manifest.json";

/// The archive's first member.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub ondol_version: String,
    pub schema_version: u32,
    /// Unix milliseconds when the store was copied.
    pub created_ms: u64,
    pub functions: usize,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Copies the database at `src` into `dest` in one read transaction: in WAL
/// mode writers go on meanwhile and the copy is the state at its start.
pub fn snapshot_db(src: &Path, dest: &Path) -> Result<()> {
    let from = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    from.busy_timeout(std::time::Duration::from_secs(5))?;
    let mut to = Connection::open(dest)?;
    {
        let b = rusqlite::backup::Backup::new(&from, &mut to)?;
        // All pages in one step: one read transaction, hence one consistent state.
        match b.step(-1)? {
            rusqlite::backup::StepResult::Done => {}
            other => {
                let msg = format!("the store was busy during the copy ({other:?}): try again");
                return Err(Error::BadArchive(msg));
            }
        }
    }
    to.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

/// The code and layer zips a store references, as archive paths.
pub fn referenced(db: &Path) -> Result<(usize, BTreeSet<String>)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut out = BTreeSet::new();
    let mut stmt = conn.prepare("SELECT record FROM functions")?;
    let mut functions = 0;
    for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let f: FunctionRecord = serde_json::from_str(&row?)?;
        functions += 1;
        out.insert(blob_member(&f.code_sha256));
        for v in &f.versions {
            out.insert(blob_member(&v.code_sha256));
        }
    }
    let mut stmt = conn.prepare("SELECT record FROM layer_versions")?;
    for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let l: LayerVersionRecord = serde_json::from_str(&row?)?;
        out.insert(layer_member(&l.name, l.version));
    }
    Ok((functions, out))
}

pub fn blob_member(sha256_hex: &str) -> String {
    format!("blobs/{sha256_hex}.zip")
}

pub fn layer_member(name: &str, version: u32) -> String {
    format!("layers/v/{name}/{version}.zip")
}

/// Writes a backup of the store at `db` (with `blobs`' files) to `out`; `scratch`
/// is a directory on the same disk for the copied database.
pub fn write_archive(
    db: &Path,
    blobs: &Blobs,
    scratch: &Path,
    out: impl Write,
) -> Result<Manifest> {
    let copy = Scratch(scratch.join(format!(".backup-{}-{}.db", std::process::id(), nanos())));
    snapshot_db(db, &copy.0)?;
    let (functions, members) = referenced(&copy.0)?;
    let mut files = vec![(DB_MEMBER.to_string(), copy.0.clone())];
    for m in members {
        files.push((m.clone(), source_of(blobs, &m)?));
    }
    let mut manifest = Manifest {
        format: FORMAT,
        ondol_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: SCHEMA_VERSION,
        created_ms: (nanos() / 1_000_000) as u64,
        functions,
        members: Vec::new(),
    };
    for (path, src) in &files {
        let (size, sha256) = hash_file(src)?;
        manifest.members.push(Member {
            path: path.clone(),
            size,
            sha256,
        });
    }
    let mut tar = tar::Builder::new(out);
    let json = serde_json::to_vec_pretty(&manifest)?;
    append(&mut tar, MANIFEST_MEMBER, json.len() as u64, &json[..])?;
    for ((path, src), m) in files.iter().zip(&manifest.members) {
        let f = File::open(src).map_err(Error::io(src))?;
        // Exactly the bytes hashed: the files are immutable, the copy is ours.
        append(&mut tar, path, m.size, f.take(m.size))?;
    }
    tar.into_inner().map_err(Error::io("the backup archive"))?;
    Ok(manifest)
}

/// Where an archive member's bytes are in the data dir.
fn source_of(blobs: &Blobs, member: &str) -> Result<PathBuf> {
    if let Some(sha) = member
        .strip_prefix("blobs/")
        .and_then(|m| m.strip_suffix(".zip"))
    {
        return Ok(blobs.zip_path(sha));
    }
    let rest = member
        .strip_prefix("layers/v/")
        .and_then(|m| m.strip_suffix(".zip"));
    let (name, v) = rest.and_then(|r| r.rsplit_once('/')).unwrap_or_default();
    let v: u32 = v
        .parse()
        .map_err(|_| Error::BadArchive(format!("unexpected member {member}")))?;
    Ok(blobs.layers.zip_path(name, v))
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(0);
    tar.append_data(&mut h, path, data)
        .map_err(Error::io(format!("the backup archive ({path})")))
}

pub(crate) fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = File::open(path).map_err(Error::io(path))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h).map_err(Error::io(path))?;
    Ok((n, hex::encode(h.finalize())))
}

/// A file removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
