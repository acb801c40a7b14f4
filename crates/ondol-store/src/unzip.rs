//! Safe unpacking of code archives into a fresh directory. Nothing outside that root
//! can be created or changed, whatever the archive holds:
//!
//! 1. The whole tree is planned from the central directory first ([`tree`]): names are
//!    normalized and bounded ([`names`]); the same path twice, a file/directory clash
//!    or a path through a file or symlink is refused; only files, directories and
//!    symlinks are accepted (no devices, FIFOs or sockets; zip has no hard links).
//! 2. Directories, then files, are written into a tree that holds no symlink yet, each
//!    file created new (`O_CREAT | O_EXCL`, which never follows a link) and streamed in
//!    a bounded buffer against the size cap; link targets are read bounded (4 KiB).
//! 3. Each symlink is resolved against the finished tree, through chains of the
//!    archive's own links, and all are created only if every one stays inside.
//!
//! Every refusal is [`Error::BadArchive`] naming the entry and the rule.

mod central;
mod names;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testzip;
mod tree;

use std::fs;
use std::io::{Cursor, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use names::shown;
use tree::{Kind, LinkError, Tree};

use crate::{Error, Result};

/// Caps on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct UnzipLimits {
    /// Total bytes written: file contents plus link targets (default 250 MB, Lambda's limit).
    pub max_total_bytes: u64,
    /// Files, directories and symlinks created, implied directories included
    /// (default 20,000).
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
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
/// Link-resolution steps (one per target component) allowed per archive: ample for
/// thousands of ordinary links, and bounds an archive built to make resolving slow.
const RESOLVE_BUDGET: u64 = 4_000_000;
const COPY_BUFFER: usize = 64 * 1024;

type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// One planned entry.
struct Planned {
    index: usize,
    node: usize,
    name: String,
    path: PathBuf,
    what: What,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum What {
    Dir,
    File { exec: bool },
    Link,
}

fn refuse(name: &str, rule: impl std::fmt::Display) -> Error {
    Error::BadArchive(format!("Entry '{}' {rule}", shown(name)))
}

/// Unpacks `zip` into `dest`, which must exist and be empty. On error `dest` may
/// hold part of the archive (never anything outside it); the caller removes it.
pub fn unpack(zip: &[u8], dest: &Path, limits: UnzipLimits) -> Result<()> {
    let mut archive = open(zip, limits)?;
    let (mut tree, plan) = plan(&mut archive, dest, limits)?;
    for node in tree.dirs() {
        let path = dest.join(tree.path(node));
        fs::create_dir(&path).map_err(Error::io(&path))?;
    }
    let mut written = 0u64;
    let mut buf = vec![0u8; COPY_BUFFER];
    for p in plan.iter().filter(|p| p.what != What::Dir) {
        let mut entry = archive
            .by_index(p.index)
            .map_err(|e| refuse(&p.name, format_args!("could not be read: {e}")))?;
        match p.what {
            What::Dir => {}
            What::File { exec } => {
                write_file(&mut entry, p, exec, limits, &mut written, &mut buf)?;
            }
            What::Link => {
                let target = read_target(&mut entry, &p.name)?;
                written += target.len() as u64;
                check_total(written, limits, &p.name)?;
                tree.set_target(p.node, target);
            }
        }
    }
    check_links(&tree, &plan)?;
    for p in plan.iter().filter(|p| p.what == What::Link) {
        let target = std::ffi::OsStr::from_bytes(tree.target(p.node));
        symlink(target, &p.path).map_err(Error::io(&p.path))?;
    }
    Ok(())
}

/// Opens the archive and applies the checks that need no entry read.
fn open(zip: &[u8], limits: UnzipLimits) -> Result<Archive<'_>> {
    let too_many = |n: u64| {
        Error::BadArchive(format!(
            "Archive has {n} entries; the limit is {}",
            limits.max_entries
        ))
    };
    let cap = limits.max_entries as u64;
    if let Some(n) = central::declared_entries(zip).filter(|&n| n > cap) {
        return Err(too_many(n));
    }
    let archive = zip::ZipArchive::new(Cursor::new(zip))
        .map_err(|e| {
            Error::BadArchive(format!(
                "Could not unzip uploaded file. Please check your file, then try to upload again. ({e})"
            ))
        })?;
    if archive.len() > limits.max_entries {
        return Err(too_many(archive.len() as u64));
    }
    let start = archive.central_directory_start();
    if let Some(name) = central::exact_duplicate(zip, start, limits.max_entries + 1) {
        return Err(refuse(&name, "appears twice"));
    }
    Ok(archive)
}

/// Judges every entry by name and type and builds the tree they make.
fn plan(
    archive: &mut Archive<'_>,
    dest: &Path,
    limits: UnzipLimits,
) -> Result<(Tree, Vec<Planned>)> {
    let root_len = dest.as_os_str().len();
    let mut tree = Tree::new(limits.max_entries);
    let mut plan = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| Error::BadArchive(format!("Could not read entry #{index}: {e}")))?;
        let name = entry.name().to_string();
        let what = what_of(&name, entry.unix_mode()).map_err(|r| refuse(&name, r))?;
        let comps = names::components(&name).map_err(|r| refuse(&name, r))?;
        names::check_path_len(root_len, &comps).map_err(|r| refuse(&name, r))?;
        let kind = match what {
            What::Dir => Kind::Dir,
            What::File { .. } => Kind::File,
            What::Link => Kind::Link(Vec::new()),
        };
        let node = tree.insert(&comps, kind).map_err(|r| refuse(&name, r))?;
        let path = comps.iter().fold(dest.to_path_buf(), |p, c| p.join(c));
        plan.push(Planned {
            index,
            node,
            name,
            path,
            what,
        });
    }
    Ok((tree, plan))
}

/// What an entry is, from its name and Unix mode; devices, FIFOs and sockets are refused.
fn what_of(name: &str, mode: Option<u32>) -> Result<What, &'static str> {
    let mode = mode.unwrap_or(0);
    let dir_name = name.ends_with('/');
    match mode & S_IFMT {
        0 | S_IFREG if dir_name => Ok(What::Dir),
        0 | S_IFREG => Ok(What::File {
            exec: mode & 0o111 != 0,
        }),
        S_IFDIR => Ok(What::Dir),
        S_IFLNK if dir_name => Err("is a symlink with a directory's name"),
        S_IFLNK => Ok(What::Link),
        0o020000 | 0o060000 => Err("is a device file, which code may not contain"),
        0o010000 => Err("is a FIFO, which code may not contain"),
        0o140000 => Err("is a socket, which code may not contain"),
        _ => Err("has an unknown file type"),
    }
}

/// Streams one file to disk in `buf`-sized pieces, counting against the size cap.
fn write_file(
    entry: &mut impl Read,
    p: &Planned,
    exec: bool,
    limits: UnzipLimits,
    written: &mut u64,
    buf: &mut [u8],
) -> Result<()> {
    // O_EXCL: never opens an existing file, nor follows a link at the last component.
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p.path)
        .map_err(Error::io(&p.path))?;
    loop {
        let n = entry
            .read(buf)
            .map_err(|e| refuse(&p.name, format_args!("is corrupt: {e}")))?;
        if n == 0 {
            break;
        }
        *written += n as u64;
        check_total(*written, limits, &p.name)?;
        out.write_all(&buf[..n]).map_err(Error::io(&p.path))?;
    }
    // Keep the executable bits (a `bootstrap` must stay runnable); drop write bits.
    let perm = if exec { 0o555 } else { 0o444 };
    out.set_permissions(fs::Permissions::from_mode(perm))
        .map_err(Error::io(&p.path))
}

/// Reads a link's target, never more than the cap plus one byte whatever the
/// archive declares, and checks it as text.
fn read_target(entry: &mut impl Read, name: &str) -> Result<Vec<u8>> {
    let mut target = Vec::new();
    entry
        .take(names::MAX_LINK_TARGET as u64 + 1)
        .read_to_end(&mut target)
        .map_err(|e| refuse(name, format_args!("is corrupt: {e}")))?;
    names::check_link_target(&target).map_err(|r| refuse(name, r))?;
    Ok(target)
}

fn check_total(written: u64, limits: UnzipLimits, name: &str) -> Result<()> {
    if written > limits.max_total_bytes {
        return Err(refuse(
            name,
            format_args!(
                "takes the unzipped size over the limit of {} bytes",
                limits.max_total_bytes
            ),
        ));
    }
    Ok(())
}

/// Resolves every link against the whole tree; refuses the first that leaves it.
fn check_links(tree: &Tree, plan: &[Planned]) -> Result<()> {
    let mut budget = RESOLVE_BUDGET;
    for p in plan.iter().filter(|p| p.what == What::Link) {
        let rule = match tree.resolve(p.node, &mut budget) {
            Ok(()) => continue,
            Err(LinkError::Escapes) => "is a symlink that leads outside the code directory",
            Err(LinkError::TooManyHops) => "is a symlink that loops or chains more than 40 links",
            Err(LinkError::TooComplex) => {
                "is one symlink too many: the archive's links are too costly to check"
            }
        };
        let target = String::from_utf8_lossy(tree.target(p.node));
        return Err(refuse(
            &p.name,
            format_args!("{rule} ('{}')", shown(&target)),
        ));
    }
    Ok(())
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
