//! Discovery against fake interpreters: shell scripts that print a version.

use super::*;
use std::os::unix::fs::PermissionsExt;

/// Writes an executable at `dir/name` that prints `out` for `--version`.
fn fake(dir: &Path, name: &str, out: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\necho '{out}'\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// One fake machine at a time: a script being written while another test's
/// probe forks is held open in that child, and its exec fails with ETXTBSY.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Machine {
    _one: std::sync::MutexGuard<'static, ()>,
    _tmp: tempfile::TempDir,
    root: PathBuf,
    places: Places,
}

/// PATH with a pyenv shim dir, a bin dir; pyenv 3.11.7 and 3.12.1; nvm 18 and 20;
/// a "system" dir with python3.11 at 3.11.2.
fn machine() -> Machine {
    let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let bin = root.join("bin");
    fake(&bin, "python3", "Python 3.10.4");
    fake(&bin, "node", "v22.3.0");
    fake(&bin, "pythonista", "Python 3.9.0");
    // A shim that would cost a pyenv start; it must never be run.
    fake(&root.join("pyenv/shims"), "python3.13", "Python 3.13.9");
    fake(
        &root.join("pyenv/versions/3.11.7/bin"),
        "python3",
        "Python 3.11.7",
    );
    fake(
        &root.join("pyenv/versions/3.12.1/bin"),
        "python3",
        "Python 3.12.1",
    );
    fake(
        &root.join("pyenv/versions/pypy3.9/bin"),
        "python3",
        "Python 3.9.16 (feeb267, PyPy 7.3.11)",
    );
    fake(
        &root.join("nvm/versions/node/v18.20.1/bin"),
        "node",
        "v18.20.1",
    );
    fake(
        &root.join("nvm/versions/node/v20.1.0/bin"),
        "node",
        "v20.1.0",
    );
    fake(&root.join("usr"), "python3.11", "Python 3.11.2");
    let places = Places {
        path: vec![root.join("pyenv/shims"), bin],
        pyenv_root: Some(root.join("pyenv")),
        nvm_dir: Some(root.join("nvm")),
        system: vec![root.join("usr")],
    };
    Machine {
        _one: one,
        _tmp: tmp,
        root,
        places,
    }
}

fn version_of(d: &Discovery, rt: &str) -> String {
    d.resolve(rt, &Overrides::new()).unwrap().runtime_version()
}

#[test]
fn each_runtime_finds_exactly_its_version() {
    let m = machine();
    let d = Discovery::scan(&m.places);
    assert_eq!(version_of(&d, "python3.10"), "python:3.10.4");
    // Two 3.11s: the newer patch release wins.
    assert_eq!(version_of(&d, "python3.11"), "python:3.11.7");
    assert_eq!(version_of(&d, "python3.12"), "python:3.12.1");
    assert_eq!(version_of(&d, "nodejs18.x"), "nodejs:18.20.1");
    assert_eq!(version_of(&d, "nodejs22.x"), "nodejs:22.3.0");
    assert_eq!(version_of(&d, "provided.al2023"), "provided.al2023");
}

#[test]
fn no_substitution_and_the_error_names_what_there_is() {
    let m = machine();
    let d = Discovery::scan(&m.places);
    // python3.13 only behind a shim, 3.9 only as PyPy: neither counts.
    for rt in ["python3.13", "python3.9", "nodejs16.x"] {
        let e = d.resolve(rt, &Overrides::new()).unwrap_err();
        assert!(matches!(e, RuntimeError::Missing { .. }), "{rt}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains("it has: python3.10, python3.11, python3.12, nodejs18.x"),
            "{msg}"
        );
        assert!(msg.contains(&format!("--runtime {rt}=/path/to/")), "{msg}");
    }
    let e = d.resolve("python3.7", &Overrides::new()).unwrap_err();
    assert!(matches!(e, RuntimeError::Unknown(_)), "{e}");
    assert!(!d
        .interpreters
        .iter()
        .any(|i| i.path.to_string_lossy().contains("shims")));
}

#[test]
fn overrides_point_at_executables_or_declare_aliases() {
    let m = machine();
    let d = Discovery::scan(&m.places);
    let opt = fake(&m.root.join("opt/py313/bin"), "python3", "Python 3.13.2");
    let o = parse_overrides(&[
        format!("python3.13={}", opt.display()),
        "python3.9=python3.11,nodejs20.x=nodejs22.x".into(),
    ])
    .unwrap();
    let r = d.resolve("python3.13", &o).unwrap();
    assert_eq!(r.runtime_version(), "python:3.13.2");
    assert_eq!(r.interpreter.unwrap().source, Source::Override);
    let r = d.resolve("python3.9", &o).unwrap();
    assert_eq!(
        (r.runtime.as_str(), r.alias_of.as_deref()),
        ("python3.9", Some("python3.11"))
    );
    assert_eq!(r.runtime_version(), "python:3.11.7");
    // An override wins over what was found.
    assert_eq!(
        d.resolve("nodejs20.x", &o).unwrap().runtime_version(),
        "nodejs:22.3.0"
    );
    // An executable of another version is refused, with the alias named as the way.
    let o = parse_overrides(&[format!("python3.12={}", opt.display())]).unwrap();
    let e = d.resolve("python3.12", &o).unwrap_err();
    assert!(
        e.to_string()
            .contains("that is python 3.13.2, not python3.12"),
        "{e}"
    );
}

#[test]
fn bad_overrides_are_refused() {
    for s in [
        "python3.12",
        "python3.12=",
        "python3.12=nodejs20.x",
        "ruby3.2=/usr/bin/ruby",
        "python3.12=python3.12",
        "python3.12=python3.5",
    ] {
        assert!(parse_override(s).is_err(), "{s}");
    }
    assert_eq!(
        parse_override(" nodejs20.x = /opt/node/bin/node ").unwrap(),
        (
            "nodejs20.x".into(),
            Target::Executable("/opt/node/bin/node".into())
        )
    );
}

#[test]
fn names_and_versions() {
    for (n, want) in [
        ("python3", true),
        ("python3.12", true),
        ("python3.", false),
        ("python3-config", false),
        ("python3.12-config", false),
        ("node", true),
        ("node20", true),
        ("node-gyp", false),
    ] {
        assert_eq!(wanted_name(n).is_some(), want, "{n}");
    }
    assert_eq!(Version::parse("3.13.0rc1").unwrap().to_string(), "3.13.0");
    assert_eq!(Version::parse("v20.20.2").unwrap().to_string(), "20.20.2");
    assert!(Version::parse("x").is_none());
}

#[test]
fn discovery_of_this_machine_is_cached_and_quick() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t = std::time::Instant::now();
    let a = discover() as *const Discovery;
    let first = t.elapsed();
    let t = std::time::Instant::now();
    assert_eq!(a, discover() as *const Discovery);
    assert!(t.elapsed() < first.max(std::time::Duration::from_micros(50)));
}
