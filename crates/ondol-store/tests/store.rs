//! Store and blob behaviour against a real SQLite file and real zip archives.

use std::io::Write;

use ondol_core::FunctionConfig;
use ondol_store::{Blobs, Error, FunctionRecord, SqliteStore, Store, UnzipLimits};
use zip::write::SimpleFileOptions;

fn zip_of(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in entries {
        let opts = SimpleFileOptions::default().unix_permissions(*mode);
        if mode & 0o170000 == 0o120000 {
            w.add_symlink(*name, std::str::from_utf8(data).unwrap(), opts)
                .unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn record(name: &str) -> FunctionRecord {
    FunctionRecord::new(
        FunctionConfig::new(name, "provided"),
        "00".into(),
        1,
        "r1".into(),
        "now".into(),
        Default::default(),
    )
}

#[test]
fn functions_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ondol.db");
    {
        let s = SqliteStore::open(&db).unwrap();
        s.create_function(&record("a")).unwrap();
        s.create_function(&record("b")).unwrap();
        assert!(matches!(
            s.create_function(&record("a")),
            Err(Error::Conflict(_))
        ));
        assert!(s.delete_function("b").unwrap());
    }
    let s = SqliteStore::open(&db).unwrap();
    let names: Vec<_> = s
        .list_functions()
        .unwrap()
        .into_iter()
        .map(|r| r.config.name)
        .collect();
    assert_eq!(names, ["a"]);
    assert!(matches!(
        s.update_function(&record("zz")),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn unpacks_once_read_only_with_exec_bits() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), UnzipLimits::default()).unwrap();
    let zip = zip_of(&[
        ("bootstrap", b"#!/bin/sh\n", 0o100755),
        ("lib/a.txt", b"hi", 0o100644),
        ("lib/link", b"a.txt", 0o120777),
    ]);
    let info = blobs.put(&zip).unwrap();
    let root = blobs.code_dir_checked(&info.sha256_hex).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("bootstrap"), 0o555);
    assert_eq!(mode("lib/a.txt"), 0o444);
    assert_eq!(
        std::fs::read_to_string(root.join("lib/link")).unwrap(),
        "hi"
    );
    assert_eq!(mode("lib"), 0o555);
    assert_eq!(mode(""), 0o555);
    // Same content again: same identity, no error.
    assert_eq!(blobs.put(&zip).unwrap(), info);
}

fn refused(zip: &[u8], limits: UnzipLimits) -> String {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::open(dir.path(), limits).unwrap();
    let err = blobs.put(zip).unwrap_err().to_string();
    // Nothing half-created.
    assert_eq!(
        std::fs::read_dir(dir.path().join("code")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs")).unwrap().count(),
        0
    );
    err
}

#[test]
fn zip_slip_is_refused_naming_the_entry() {
    let d = UnzipLimits::default();
    let e = refused(&zip_of(&[("../evil", b"x", 0o100644)]), d);
    assert!(e.contains("'../evil'") && e.contains("escapes"), "{e}");
    let e = refused(&zip_of(&[("/etc/evil", b"x", 0o100644)]), d);
    assert!(e.contains("'/etc/evil'"), "{e}");
    let e = refused(&zip_of(&[("out", b"../../etc/passwd", 0o120777)]), d);
    assert!(e.contains("'out'") && e.contains("outside"), "{e}");
    let e = refused(&zip_of(&[("abs", b"/etc/passwd", 0o120777)]), d);
    assert!(e.contains("'abs'"), "{e}");
}

#[test]
fn size_and_count_caps() {
    let big = vec![0u8; 4096];
    let limits = UnzipLimits {
        max_total_bytes: 5000,
        max_entries: 3,
    };
    let e = refused(
        &zip_of(&[("a", &big, 0o100644), ("b", &big, 0o100644)]),
        limits,
    );
    assert!(e.contains("'b'") && e.contains("5000"), "{e}");
    let e = refused(
        &zip_of(&[
            ("a", b"", 0o100644),
            ("b", b"", 0o100644),
            ("c", b"", 0o100644),
            ("d", b"", 0o100644),
        ]),
        limits,
    );
    assert!(e.contains("4 entries"), "{e}");
    let e = refused(b"not a zip at all", UnzipLimits::default());
    assert!(e.contains("Could not unzip"), "{e}");
}
