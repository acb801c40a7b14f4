//! Builds the instance init (`runtimes/init/init.rs`) as a small static binary
//! with the same compiler, for `runtimes.rs` to embed.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"))
        .join("../../runtimes/init/init.rs");
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("out dir")).join("ondol-init");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").expect("target");
    let status = Command::new(rustc)
        .args(["--edition=2021", "--crate-type=bin", "--target", &target])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .args(["-C", "target-feature=+crt-static", "-C", "codegen-units=1"])
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run rustc for the instance init");
    assert!(status.success(), "building the instance init failed");
}
