//! Packaging a function directory: a deterministic zip (sorted entries, fixed
//! times, modes kept), so unchanged code has an unchanged hash and is not uploaded.
//! What is shipped: the directory less `.ondolignore` (gitignore syntax) and the
//! defaults below, plus the function's built dependencies, copied compressed from
//! their cached zip (never recompressed, so a redeploy stays quick).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// A packaged function: the zip and its base64 sha256 (Lambda's `CodeSha256`).
pub struct Package {
    pub zip: Vec<u8>,
    pub sha256: String,
}

/// The file naming what else is not shipped, at the function's root.
pub const IGNORE_FILE: &str = ".ondolignore";

/// Never shipped: caches, VCS metadata, local virtualenvs.
const DEFAULT_IGNORES: [&str; 8] = [
    "__pycache__/",
    "*.pyc",
    ".git/",
    ".ondol/",
    ".DS_Store",
    ".venv/",
    "venv/",
    IGNORE_FILE,
];

/// The rules for `dir`: the defaults, `node_modules` when ondol builds it, then
/// `dir/.ondolignore` (which may re-include a default with `!`), then the
/// manifest's `exclude` lines (which win, being last).
fn rules(dir: &Path, built_node_modules: bool, exclude: &[String]) -> Result<Gitignore> {
    let mut b = GitignoreBuilder::new(dir);
    let mut defaults = DEFAULT_IGNORES.to_vec();
    if built_node_modules {
        defaults.push("node_modules/");
    }
    for line in defaults {
        b.add_line(None, line)
            .expect("default ignore patterns are valid");
    }
    let file = dir.join(IGNORE_FILE);
    if file.is_file() {
        if let Some(e) = b.add(&file) {
            anyhow::bail!("{}: {e}", file.display());
        }
    }
    for line in exclude {
        b.add_line(None, line)
            .with_context(|| format!("exclude: {line:?}"))?;
    }
    b.build()
        .with_context(|| format!("reading {}", file.display()))
}

fn walk(dir: &Path, rules: &Gitignore, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let meta =
            std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if rules.matched(&path, meta.is_dir()).is_ignore() {
            continue;
        }
        if meta.is_dir() {
            walk(&path, rules, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Packages `dir` alone (no dependencies).
pub fn package(dir: &Path) -> Result<Package> {
    package_with(dir, None, false)
}

/// Packages `dir` with the dependencies in `deps_zip` at the root (a file of the
/// function's own wins over a dependency's of the same name).
pub fn package_with(
    dir: &Path,
    deps_zip: Option<&Path>,
    built_node_modules: bool,
) -> Result<Package> {
    package_under(dir, deps_zip, "", built_node_modules)
}

/// Packages `dir` with the dependencies in `deps_zip` under `prefix` (`""` for
/// a function, `python/` or `nodejs/` for a layer).
pub fn package_under(
    dir: &Path,
    deps_zip: Option<&Path>,
    prefix: &str,
    built_node_modules: bool,
) -> Result<Package> {
    package_parts(&Parts {
        dir,
        compiled: None,
        deps_zip,
        prefix,
        built_node_modules,
        exclude: &[],
    })
}

/// What goes into one package.
pub struct Parts<'a> {
    /// The code directory (less the ignore rules).
    pub dir: &'a Path,
    /// A compiled tree whose files win over the directory's.
    pub compiled: Option<&'a Path>,
    /// Built dependencies, merged under `prefix` where no file has the name.
    pub deps_zip: Option<&'a Path>,
    pub prefix: &'a str,
    /// `node_modules` is built (or bundled): the directory's own is left out.
    pub built_node_modules: bool,
    /// The manifest's `exclude` lines.
    pub exclude: &'a [String],
}

/// Packages `p`: compiled files first, then the directory's, then dependencies.
pub fn package_parts(p: &Parts<'_>) -> Result<Package> {
    let rules = rules(p.dir, p.built_node_modules, p.exclude)?;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut names = std::collections::HashSet::new();
    let mut trees = Vec::new();
    if let Some(c) = p.compiled {
        trees.push((c, Gitignore::empty()));
    }
    trees.push((p.dir, rules));
    for (dir, rules) in &trees {
        let mut files = Vec::new();
        walk(dir, rules, &mut files)?;
        for f in files {
            let rel = f.strip_prefix(dir).expect("walked under dir");
            let name = rel.to_string_lossy().into_owned();
            if names.contains(&name) {
                continue;
            }
            let mode = std::fs::metadata(&f)?.permissions().mode();
            let opts = SimpleFileOptions::default()
                .unix_permissions(mode & 0o777)
                .last_modified_time(zip::DateTime::default());
            w.start_file(name.as_str(), opts)?;
            w.write_all(&std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?)?;
            names.insert(name);
        }
    }
    let prefix = p.prefix;
    if let Some(deps) = p.deps_zip {
        let file =
            std::fs::File::open(deps).with_context(|| format!("reading {}", deps.display()))?;
        let mut z = zip::ZipArchive::new(std::io::BufReader::new(file))
            .with_context(|| format!("reading {}", deps.display()))?;
        for i in 0..z.len() {
            let entry = z.by_index_raw(i)?;
            let name = format!("{prefix}{}", entry.name());
            if !names.contains(&name) {
                w.raw_copy_file_rename(entry, name)?;
            }
        }
    }
    let zip = w.finish()?.into_inner();
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    Ok(Package { zip, sha256 })
}

/// Zips `dir` whole (a dependency tree) into `dest`, deterministically.
pub fn zip_tree(dir: &Path, dest: &Path) -> Result<()> {
    let mut files = Vec::new();
    walk(dir, &Gitignore::empty(), &mut files)?;
    let out = std::fs::File::create(dest).with_context(|| format!("writing {}", dest.display()))?;
    let mut w = zip::ZipWriter::new(std::io::BufWriter::new(out));
    for f in files {
        let rel = f.strip_prefix(dir).expect("walked under dir");
        let mode = std::fs::metadata(&f)?.permissions().mode();
        let opts = SimpleFileOptions::default()
            .unix_permissions(mode & 0o777)
            .last_modified_time(zip::DateTime::default());
        w.start_file(rel.to_string_lossy(), opts)?;
        let mut src =
            std::fs::File::open(&f).with_context(|| format!("reading {}", f.display()))?;
        std::io::copy(&mut src, &mut w)?;
    }
    w.finish()?.flush()?;
    Ok(())
}

/// A size as people read it: `812 KB`, `14.2 MB`.
pub fn human_size(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Package) -> Vec<String> {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(&p.zip)).unwrap();
        (0..z.len())
            .map(|i| z.by_index(i).unwrap().name().to_string())
            .collect()
    }

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

    #[test]
    fn ondolignore_and_defaults_decide_what_ships() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for f in [
            "app.py",
            "notes.md",
            "data/keep.txt",
            "data/big.bin",
            ".venv/lib/x.py",
            "node_modules/x/index.js",
            "sub/venv/y.py",
            "z.pyc",
        ] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), "x").unwrap();
        }
        std::fs::write(p.join(IGNORE_FILE), "*.md\ndata/*.bin\n").unwrap();
        let got = names(&package_with(p, None, false).unwrap());
        assert_eq!(got, ["app.py", "data/keep.txt", "node_modules/x/index.js"]);
        let got = names(&package_with(p, None, true).unwrap());
        assert_eq!(got, ["app.py", "data/keep.txt"]);
    }

    #[test]
    fn dependencies_join_the_code_and_the_code_wins() {
        let d = tempfile::tempdir().unwrap();
        let (code, deps) = (d.path().join("code"), d.path().join("deps"));
        std::fs::create_dir_all(deps.join("lib")).unwrap();
        std::fs::create_dir_all(&code).unwrap();
        std::fs::write(code.join("app.py"), "mine").unwrap();
        std::fs::write(deps.join("app.py"), "theirs").unwrap();
        std::fs::write(deps.join("lib/__init__.py"), "lib").unwrap();
        let dz = d.path().join("deps.zip");
        zip_tree(&deps, &dz).unwrap();
        let p = package_with(&code, Some(&dz), false).unwrap();
        assert_eq!(names(&p), ["app.py", "lib/__init__.py"]);
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(&p.zip)).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut z.by_name("app.py").unwrap(), &mut s).unwrap();
        assert_eq!(s, "mine");
        assert_eq!(
            package_with(&code, Some(&dz), false).unwrap().sha256,
            p.sha256
        );
    }
}
