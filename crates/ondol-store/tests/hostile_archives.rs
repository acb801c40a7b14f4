//! Property tests: random hostile archives (dirs, files, FIFOs, symlinks with `..`,
//! absolute and chained targets, duplicates, long names, paths through links) never
//! make `unpack` panic, write outside the root, leave a link that leads out of it,
//! or fail with anything but `BadArchive`.

#[allow(dead_code)]
#[path = "../src/unzip/testzip.rs"]
mod testzip;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use ondol_store::unzip::unpack;
use ondol_store::{Error, UnzipLimits};
use proptest::prelude::*;
use testzip::TestZip;

/// Names drawn from few words so entries collide, nest and pass through each other.
fn name_part() -> impl Strategy<Value = String> {
    prop_oneof![
        120 => prop::sample::select(vec!["a", "b", "c", "l", "m", "outside"]).prop_map(str::to_string),
        2 => prop::sample::select(vec![".", ""]).prop_map(str::to_string),
        1 => Just("..".to_string()),
        1 => Just("n".repeat(256)),
    ]
}

/// Link targets climb often.
fn target_part() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["a", "b", "l", "m", "outside"]).prop_map(str::to_string),
        4 => Just("..".to_string()),
        1 => prop::sample::select(vec![".", ""]).prop_map(str::to_string),
    ]
}

fn path(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(name_part(), 1..max).prop_map(|c| c.join("/"))
}

fn target() -> impl Strategy<Value = String> {
    let climb = prop::collection::vec(target_part(), 1..7).prop_map(|c| c.join("/"));
    prop_oneof![
        24 => climb,
        1 => path(4).prop_map(|p| format!("/{p}")),
        2 => path(4).prop_map(|p| format!("../../outside/{p}")),
        1 => Just("a/".repeat(2100)),
    ]
}

#[derive(Debug, Clone)]
enum Entry {
    File(String),
    Dir(String),
    Link(String, String),
    Fifo(String),
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        12 => path(5).prop_map(Entry::File),
        8 => path(4).prop_map(|p| Entry::Dir(format!("{p}/"))),
        16 => (path(4), target()).prop_map(|(p, t)| Entry::Link(p, t)),
        1 => path(3).prop_map(Entry::Fifo),
    ]
}

fn build(entries: &[Entry]) -> Vec<u8> {
    let mut zip = TestZip::new();
    for e in entries {
        zip = match e {
            Entry::File(n) => zip.file(n, b"PWNED"),
            Entry::Dir(n) => zip.dir(n),
            Entry::Link(n, t) => zip.link(n, t),
            Entry::Fifo(n) => zip.raw(n.as_bytes(), 0o010644, b""),
        };
    }
    zip.build()
}

/// Everything under `dir` except `skip`: path to (kind, bytes, mode).
fn snapshot(dir: &Path, skip: &Path) -> BTreeMap<PathBuf, (String, Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p == skip {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode();
            let state = if m.is_symlink() {
                (
                    "link".into(),
                    fs::read_link(&p)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                    mode,
                )
            } else if m.is_dir() {
                stack.push(p.clone());
                ("dir".into(), Vec::new(), mode)
            } else {
                ("file".into(), fs::read(&p).unwrap(), mode)
            };
            out.insert(p, state);
        }
    }
    out
}

/// Follows `link` on disk, component by component, and says whether every step
/// stays inside `root` (missing components are walked lexically).
fn stays_inside(root: &Path, link: &Path) -> bool {
    let mut cur = link.parent().unwrap().to_path_buf();
    let mut pending: Vec<OsString> = Vec::new();
    let push = |pending: &mut Vec<OsString>, t: PathBuf| {
        if t.is_absolute() {
            return false;
        }
        pending.extend(t.components().rev().map(|c| c.as_os_str().to_owned()));
        true
    };
    if !push(&mut pending, fs::read_link(link).unwrap()) {
        return false;
    }
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        match Path::new(&c).components().next() {
            None | Some(Component::CurDir) => {}
            Some(Component::ParentDir) => {
                if cur == root {
                    return false;
                }
                cur.pop();
            }
            _ => {
                let next = cur.join(&c);
                match fs::symlink_metadata(&next) {
                    Ok(m) if m.is_symlink() => {
                        hops += 1;
                        if hops > 40 || !push(&mut pending, fs::read_link(&next).unwrap()) {
                            return hops > 40;
                        }
                    }
                    _ => cur = next,
                }
            }
        }
    }
    cur.starts_with(root)
}

fn links_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_symlink() {
                out.push(e.path());
            } else if t.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

fn check(entries: &[Entry]) -> Result<(), TestCaseError> {
    let scratch = tempfile::tempdir().unwrap();
    let base = scratch.path().canonicalize().unwrap();
    let root = base.join("x/y/root");
    fs::create_dir_all(&root).unwrap();
    for d in ["outside/a", "x/outside/a", "x/y/outside/a", "x/y/a"] {
        fs::create_dir_all(base.join(d)).unwrap();
        fs::write(base.join(d).join("sentinel"), b"keep").unwrap();
    }
    let before = snapshot(&base, &root);
    let res = unpack(&build(entries), &root, UnzipLimits::default());
    prop_assert!(
        matches!(res, Ok(()) | Err(Error::BadArchive(_))),
        "unexpected result {res:?}"
    );
    prop_assert_eq!(
        &before,
        &snapshot(&base, &root),
        "something outside the root changed"
    );
    for link in links_under(&root) {
        prop_assert!(
            stays_inside(&root, &link),
            "{} leads outside",
            link.display()
        );
        if let Ok(real) = fs::canonicalize(&link) {
            prop_assert!(
                real.starts_with(&root),
                "{} is {}",
                link.display(),
                real.display()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn hostile_archives_stay_inside(entries in prop::collection::vec(entry(), 1..12)) {
        check(&entries)?;
    }
}

/// The chain from the report, as a fixed case beside the random ones.
#[test]
fn the_reported_chain_stays_inside() {
    let deep = "p1/p2/p3/p4/p5/p6/p7/p8";
    check(&[
        Entry::Link(format!("{deep}/l"), "../../..".into()),
        Entry::Link(format!("{deep}/l/e"), "../../../../..".into()),
        Entry::File(format!("{deep}/l/e/outside/PWNED.txt")),
    ])
    .unwrap();
}
