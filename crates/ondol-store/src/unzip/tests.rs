//! One test per rule of [`super::unpack`], on archives built byte by byte.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::testzip::TestZip;
use super::*;

/// A scratch dir holding `root/` (the unpack target) and a sibling `outside/`.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::create_dir(dir.path().join("outside")).unwrap();
    (dir, root)
}

fn unpack_with(zip: &TestZip, limits: UnzipLimits) -> (tempfile::TempDir, PathBuf, Result<()>) {
    let (dir, root) = scratch();
    let res = unpack(&zip.build(), &root, limits);
    (dir, root, res)
}

/// Unpacks, expects a `BadArchive`, checks nothing appeared beside the root, and
/// returns the message.
fn refused(zip: &TestZip) -> String {
    refused_with(zip, UnzipLimits::default())
}

fn refused_with(zip: &TestZip, limits: UnzipLimits) -> String {
    let (dir, _root, res) = unpack_with(zip, limits);
    let outside: Vec<_> = fs::read_dir(dir.path().join("outside")).unwrap().collect();
    assert!(outside.is_empty(), "something was written outside the root");
    match res {
        Err(Error::BadArchive(m)) => m,
        other => panic!("expected BadArchive, got {other:?}"),
    }
}

#[test]
fn well_formed_archive_with_internal_links_unpacks() {
    let zip = TestZip::new()
        .dir("vendor/")
        .file("vendor/lib/util.py", b"x = 1\n")
        .exec("bootstrap", b"#!/bin/sh\n")
        .link("lib", "vendor/lib")
        .link("vendor/lib/self", "../lib/util.py")
        .link("dangling", "not/yet");
    let (_dir, root, res) = unpack_with(&zip, UnzipLimits::default());
    res.unwrap();
    assert_eq!(fs::read(root.join("lib/util.py")).unwrap(), b"x = 1\n");
    assert_eq!(fs::read(root.join("vendor/lib/self")).unwrap(), b"x = 1\n");
    let mode = |p: &str| fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("bootstrap"), 0o555);
    assert_eq!(mode("vendor/lib/util.py"), 0o444);
    assert!(fs::symlink_metadata(root.join("dangling"))
        .unwrap()
        .is_symlink());
}

#[test]
fn the_reported_link_chain_is_refused_before_anything_is_written_through_it() {
    let deep = "p1/p2/p3/p4/p5/p6/p7/p8";
    let zip = TestZip::new()
        .link(&format!("{deep}/l"), "../../..")
        .link(&format!("{deep}/l/e"), "../../../../..")
        .file(&format!("{deep}/l/e/outside/PWNED.txt"), b"pwned");
    let m = refused(&zip);
    assert!(m.contains(&format!("'{deep}/l/e'")), "{m}");
    assert!(m.contains("a symlink"), "{m}");
}

#[test]
fn links_leaving_the_root_are_refused_even_through_chains() {
    let m = refused(&TestZip::new().link("l", "../outside"));
    assert!(m.contains("'l'") && m.contains("leads outside"), "{m}");
    let m = refused(&TestZip::new().link("a/l", "/etc/passwd"));
    assert!(m.contains("absolute"), "{m}");
    // Each link alone stays inside; followed together they climb out.
    let chain = TestZip::new()
        .link("d/up", "..")
        .link("d/e/up2", "../up/..")
        .dir("d/e/");
    let m = refused(&chain);
    assert!(
        m.contains("'d/e/up2'") && m.contains("leads outside"),
        "{m}"
    );
    let via_missing = TestZip::new().link("l", "missing/../../x");
    assert!(refused(&via_missing).contains("leads outside"));
}

#[test]
fn link_loops_are_refused() {
    let m = refused(&TestZip::new().link("a", "b").link("b", "a"));
    assert!(m.contains("loops"), "{m}");
}

#[test]
fn paths_through_files_and_clashes_are_refused() {
    let m = refused(&TestZip::new().file("x", b"1").file("x/y", b"2"));
    assert!(
        m.contains("'x/y'") && m.contains("through 'x', which is a file"),
        "{m}"
    );
    let m = refused(&TestZip::new().dir("x/").file("x", b"1"));
    assert!(m.contains("'x'") && m.contains("both a directory"), "{m}");
    let m = refused(&TestZip::new().file("x/y", b"1").file("x", b"2"));
    assert!(m.contains("use it as a directory"), "{m}");
    let m = refused(&TestZip::new().link("l", "d").dir("d/").file("l/f", b"1"));
    assert!(m.contains("which is a symlink"), "{m}");
}

#[test]
fn duplicates_are_refused_however_spelled() {
    let m = refused(&TestZip::new().file("a", b"1").file("a", b"2"));
    assert!(m.contains("'a'") && m.contains("twice"), "{m}");
    assert!(refused(&TestZip::new().file("a", b"1").file("./a", b"2")).contains("twice"));
    assert!(refused(&TestZip::new().file("a/b", b"1").file("a//b", b"2")).contains("twice"));
    assert!(refused(&TestZip::new().dir("d/").dir("./d/")).contains("twice"));
}

#[test]
fn devices_fifos_and_sockets_are_refused() {
    for (mode, word) in [
        (0o020644, "device"),
        (0o060644, "device"),
        (0o010644, "FIFO"),
        (0o140644, "socket"),
    ] {
        let m = refused(&TestZip::new().raw(b"odd", mode, b""));
        assert!(m.contains("'odd'") && m.contains(word), "{m}");
    }
}

#[test]
fn names_that_climb_or_are_too_long_are_refused_not_io_errors() {
    assert!(refused(&TestZip::new().file("a/../../x", b"")).contains(".."));
    assert!(refused(&TestZip::new().file("/etc/x", b"")).contains("absolute"));
    let long = "n".repeat(300);
    assert!(refused(&TestZip::new().file(&long, b"")).contains("300 bytes"));
    let deep = vec!["d".repeat(200); 25].join("/");
    assert!(refused(&TestZip::new().file(&deep, b"")).contains("the limit is 4095"));
}

#[test]
fn link_targets_are_capped_and_read_bounded() {
    let m = refused(&TestZip::new().link("l", &"a".repeat(5000)));
    assert!(m.contains("'l'") && m.contains("over 4095 bytes"), "{m}");
    // A deflated 64 MiB target: refused after reading 4 KiB of it.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("big", zip::write::SimpleFileOptions::default())
        .unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..64 {
        w.write_all(&chunk).unwrap();
    }
    let mut zip = w.finish().unwrap().into_inner();
    // Writers store symlinks uncompressed; mark this deflated entry as one by hand.
    let at = zip.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
    zip[at + 38..at + 42].copy_from_slice(&(0o120777u32 << 16).to_le_bytes());
    let (dir, _) = scratch();
    let root = dir.path().join("root");
    let started = std::time::Instant::now();
    let e = unpack(&zip, &root, UnzipLimits::default()).unwrap_err();
    assert!(
        matches!(e, Error::BadArchive(ref m) if m.contains("over 4095")),
        "{e}"
    );
    assert!(started.elapsed().as_secs() < 5);
}

#[test]
fn a_zip_bomb_stops_at_the_size_cap() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("bomb", zip::write::SimpleFileOptions::default())
        .unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..16 {
        w.write_all(&chunk).unwrap();
    }
    let zip = w.finish().unwrap().into_inner();
    let limits = UnzipLimits {
        max_total_bytes: 1 << 20,
        ..UnzipLimits::default()
    };
    let (dir, _) = scratch();
    let root = dir.path().join("root");
    let e = unpack(&zip, &root, limits).unwrap_err();
    assert!(
        matches!(e, Error::BadArchive(ref m) if m.contains("'bomb'") && m.contains("size")),
        "{e}"
    );
    let written = fs::metadata(root.join("bomb")).unwrap().len();
    assert!(written <= 1 << 20, "wrote {written} bytes past the cap");
}

#[test]
fn implied_directories_count_against_the_entry_cap() {
    let limits = UnzipLimits {
        max_entries: 5,
        ..UnzipLimits::default()
    };
    let zip = TestZip::new().file("a/b/c/d/e/f", b"");
    assert!(refused_with(&zip, limits).contains("more than 5"));
    let (_d, _r, res) = unpack_with(&TestZip::new().file("a/b/c/d/e", b""), limits);
    res.unwrap();
}

#[test]
fn a_declared_entry_count_over_the_cap_is_refused_before_parsing() {
    let mut zip = TestZip::new().file("a", b"").build();
    let end = zip.len() - 22;
    for at in [end + 8, end + 10] {
        zip[at..at + 2].copy_from_slice(&60_000u16.to_le_bytes());
    }
    let (dir, root) = scratch();
    let e = unpack(&zip, &root, UnzipLimits::default()).unwrap_err();
    assert!(
        matches!(e, Error::BadArchive(ref m) if m.contains("60000 entries")),
        "{e}"
    );
    drop(dir);
}

#[test]
fn garbage_is_a_bad_archive() {
    let (dir, _) = scratch();
    let e = unpack(
        b"PK\x03\x04 not really",
        &dir.path().join("root"),
        UnzipLimits::default(),
    );
    assert!(matches!(e, Err(Error::BadArchive(_))));
}
