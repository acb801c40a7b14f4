//! The interpreter a bare `python3` or `node` means on this machine: what web-mode
//! functions run (their command names no version) and build their dependencies with.

use std::path::{Path, PathBuf};

use super::{Discovery, Family, Interpreter};

impl Discovery {
    /// The real executable behind `python3` / `node` on PATH (through pyenv's
    /// shims, once), with its version; `None` if there is none.
    pub fn host_default(&self, family: Family) -> Option<Interpreter> {
        let (exe, flag, code) = match family {
            Family::Python => ("python3", "-c", "import sys;print(sys.executable)"),
            Family::Node => ("node", "-e", "process.stdout.write(process.execPath)"),
        };
        let out = std::process::Command::new(exe)
            .args([flag, code])
            .stdin(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let real = std::fs::canonicalize(&path).ok()?;
        if let Some(i) = self.interpreters.iter().find(|i| same(&i.path, &real)) {
            return Some(i.clone());
        }
        self.probe_override(&real, family)
    }
}

fn same(a: &Path, b: &Path) -> bool {
    std::fs::canonicalize(a).is_ok_and(|a| a == b)
}
