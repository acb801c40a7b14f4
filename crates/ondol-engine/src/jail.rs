//! The sandbox an instance process enters before its first instruction: its own
//! mount namespace whose root is a fresh tmpfs holding only the host's system
//! directories (read-only), its code read-only at `/var/task`, the runtimes at
//! `/var/runtime`, a private capped `/tmp`, a `/proc` that shows only its own
//! processes, and a few devices; then the function's own uid/gid, no supplementary
//! groups and no new privileges; and its own pid namespace, led by the instance init. Everything is planned before the fork: the child
//! only makes system calls on prepared C strings.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use crate::engine::FunctionSpec;
use crate::runtimes::Runtimes;
use crate::sandbox::CgroupRoot;

/// Whether instances are sandboxed (`ondol serve --sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// Never.
    Off,
    /// When the host allows it (root, mount namespaces); said at start otherwise.
    #[default]
    Auto,
    /// Always: the server refuses to start without it.
    Require,
}

/// Where code and runtimes appear inside the sandbox (Lambda's paths).
pub(crate) const TASK_ROOT: &str = "/var/task";
pub(crate) const RUNTIME_DIR: &str = "/var/runtime";

/// The node's sandbox: the empty host directory each instance's root is mounted
/// on (only ever inside its own mount namespace), the host paths shown read-only,
/// and the uid range functions get theirs from.
#[derive(Debug, Clone)]
pub(crate) struct Jail {
    mountpoint: PathBuf,
    runtime_dir: PathBuf,
    uid_first: u32,
    uid_count: u32,
    /// Whether instances get their own pid namespace.
    pidns: bool,
}

/// One mount-namespace step, on paths already joined under the new root.
pub(crate) enum Op {
    Mkdir(CString),
    Touch(CString),
    Symlink(CString, CString),
    Bind {
        src: CString,
        dst: CString,
        ro: bool,
    },
    Mount {
        fs: CString,
        dst: CString,
        flags: libc::c_ulong,
        data: CString,
    },
}

/// Everything one child does to enter its sandbox, prepared before the fork.
pub(crate) struct Plan {
    pub(crate) root: CString,
    /// Builds the view shared by every instance of the version.
    pub(crate) ops: Vec<Op>,
    /// Each instance's own mounts (`/tmp`, `/proc`, `/dev/shm`), inside its root.
    pub(crate) instance: Vec<Op>,
    /// The shared view built once ahead of demand (a mount namespace): an
    /// instance copies it rather than building its own (~1 ms of each cold start).
    pub(crate) template: Option<std::os::fd::OwnedFd>,
    pub(crate) uid: u32,
    pub(crate) cwd: CString,
    /// The init to run the program under, as pid 1 of its own pid namespace.
    pub(crate) init: Option<CString>,
}

fn c(p: impl AsRef<Path>) -> CString {
    CString::new(p.as_ref().as_os_str().as_bytes()).unwrap_or_default()
}

/// Host directories every instance sees read-only (or as symlinks, where the
/// host has merged them into /usr).
const SYSTEM: &[&str] = &[
    "usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32", "etc",
];
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

impl Jail {
    pub fn new(data_dir: &Path, runtime_dir: &Path, uids: (u32, u32)) -> std::io::Result<Self> {
        let mountpoint = data_dir.join("sandbox-root");
        std::fs::create_dir_all(&mountpoint)?;
        Ok(Self {
            mountpoint,
            runtime_dir: runtime_dir.to_path_buf(),
            uid_first: uids.0,
            uid_count: uids.1.saturating_sub(uids.0) + 1,
            pidns: false,
        })
    }

    /// The whole range, inclusive.
    pub fn uids(&self) -> (u32, u32) {
        (self.uid_first, self.uid_first + self.uid_count - 1)
    }

    /// The uid (and gid) of the function holding `slot`, if the range has it.
    pub fn uid(&self, slot: u32) -> Option<u32> {
        (slot < self.uid_count).then(|| self.uid_first + slot)
    }

    /// The steps for one instance of code in `code_dir`, run as `uid`, with a
    /// `/tmp` of `tmp_mb`, seeing `extra` host paths (interpreters) read-only.
    pub fn plan(&self, code_dir: &Path, uid: u32, tmp_mb: u32, extra: &[PathBuf]) -> Plan {
        let root = self.mountpoint.clone();
        let mut ops = Vec::new();
        system(&mut ops, &root);
        for p in extra.iter().filter(|p| p.is_dir()) {
            bind(&mut ops, p, &root, true);
        }
        let at = |p: &str| c(root.join(p.trim_start_matches('/')));
        ops.push(Op::Mkdir(at("/var")));
        for (src, dst) in [(code_dir, TASK_ROOT), (&self.runtime_dir, RUNTIME_DIR)] {
            ops.push(Op::Mkdir(at(dst)));
            ops.push(Op::Bind {
                src: c(src),
                dst: at(dst),
                ro: true,
            });
        }
        ops.push(Op::Mkdir(at("/dev")));
        ops.push(Op::Mount {
            fs: c("tmpfs"),
            dst: at("/dev"),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: c("mode=0755,size=64k"),
        });
        devices(&mut ops, &at);
        // Each instance's own, mounted inside its root once it is there.
        let nosuid = libc::MS_NOSUID | libc::MS_NODEV;
        let tmp = format!("mode=1777,size={tmp_mb}m");
        let mut instance = Vec::new();
        for (dst, fs, flags, data) in [
            ("/tmp", "tmpfs", nosuid, tmp.as_str()),
            ("/proc", "proc", nosuid | libc::MS_NOEXEC, "hidepid=2"),
            ("/dev/shm", "tmpfs", nosuid, tmp.as_str()),
        ] {
            ops.push(Op::Mkdir(at(dst)));
            instance.push(Op::Mount {
                fs: c(fs),
                dst: c(dst),
                flags,
                data: c(data),
            });
        }
        Plan {
            root: c(&root),
            ops,
            instance,
            template: None,
            uid,
            cwd: c(TASK_ROOT),
            init: self
                .pidns
                .then(|| c(Path::new(RUNTIME_DIR).join(crate::runtimes::INIT_NAME))),
        }
    }
}

impl Jail {
    /// Starts `/bin/true` in a sandbox: whether this host can give one.
    pub fn probe(&self) -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: no own uid, no own filesystem view".into());
        }
        let plan = self.plan(&self.runtime_dir, self.uid_first, 1, &[]);
        let mut cmd = std::process::Command::new("/bin/true");
        cmd.stdin(std::process::Stdio::null());
        // SAFETY: `enter` only makes system calls on the prepared plan.
        unsafe {
            cmd.pre_exec(move || crate::enter::enter(&plan));
        }
        match cmd.status() {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("a sandboxed /bin/true ended with {s}")),
            Err(e) => Err(format!("could not enter a sandbox: {e}")),
        }
    }

    /// Whether this host gives a process its own pid namespace.
    pub fn probe_pidns() -> Result<(), String> {
        let mut cmd = std::process::Command::new("/bin/true");
        cmd.stdin(std::process::Stdio::null());
        // SAFETY: one system call in the forked child.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWPID) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        match cmd.status() {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("/bin/true ended with {s}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Jail {
    /// The plan of one function version: its uid from its slot, and a view of
    /// every resolved interpreter (`command` functions run whichever).
    pub async fn plan_for(&self, runtimes: &Runtimes, spec: &FunctionSpec) -> Result<Plan, String> {
        let uid = self
            .uid(spec.sandbox_slot)
            .ok_or_else(|| format!("no sandbox uid left for function {}", spec.config.name))?;
        let interpreters = runtimes.interpreters_of(&spec.config).await;
        let prefixes: Vec<PathBuf> = interpreters.iter().map(|i| i.prefix.clone()).collect();
        let extra = install_roots(prefixes.iter().filter_map(|p| p.to_str()));
        let mut plan = self.plan(&spec.code_dir, uid, spec.config.ephemeral_mb, &extra);
        // The interpreter's own third-party packages are the host's, not the
        // function's: an empty read-only directory over each (the standard library
        // stays). Dependencies come with the code, or its layers.
        for dir in interpreters.iter().flat_map(|i| &i.hidden) {
            if dir.is_dir() {
                plan.ops.push(Op::Mount {
                    fs: c("tmpfs"),
                    dst: c(self.mountpoint.join(dir.strip_prefix("/").unwrap_or(dir))),
                    flags: libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    data: c("size=4k,mode=0755"),
                });
            }
        }
        if let Some(opt) = &spec.opt_dir {
            // The function's layers, merged, read-only at /opt (before the root is sealed).
            let dst = c(self.mountpoint.join("opt"));
            plan.ops.push(Op::Mkdir(dst.clone()));
            plan.ops.push(Op::Bind {
                src: c(opt),
                dst,
                ro: true,
            });
        }
        // Built now, off the request path; without it each instance builds its own.
        let plan = tokio::task::spawn_blocking(move || {
            let mut plan = plan;
            match crate::spawn::hold_view(&plan) {
                Ok(fd) => plan.template = Some(fd),
                Err(e) => tracing::warn!(error = %e, "no shared sandbox view: each instance builds its own"),
            }
            plan
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(plan)
    }
}

impl Plan {
    /// The uid (and gid) the instance runs as.
    pub fn uid(&self) -> u32 {
        self.uid
    }
}

/// The sandbox, if the mode and the host allow; says at start exactly what is in
/// force and what is missing. `Require` refuses to start without every piece.
pub(crate) fn open(
    mode: SandboxMode,
    data_dir: &Path,
    runtime_dir: &Path,
    uids: (u32, u32),
    cgroups: Option<&CgroupRoot>,
) -> std::io::Result<Option<Jail>> {
    if mode == SandboxMode::Off {
        tracing::warn!("sandbox off: functions run as the server's user and see the whole host");
        return Ok(None);
    }
    let mut jail = Jail::new(data_dir, runtime_dir, uids)?;
    let mut missing = Vec::new();
    let probed = jail.probe();
    if let Err(why) = &probed {
        missing.push(format!("own uid and filesystem view ({why}): functions run as the server's user and see the whole host, its environment and the data dir"));
    }
    match Jail::probe_pidns() {
        Ok(()) => jail.pidns = true,
        Err(why) => missing.push(format!("pid namespace ({why}): an instance sees (not touches) other processes of its own function, and a process that leaves its group outlives the instance where no cgroup holds it")),
    }
    match cgroups {
        None => missing.push("memory cgroup: memory is limited by the RSS watchdog only, which early forks and daemons escape; no pids limit, no CPU shares".into()),
        Some(root) if !root.has_pids() => missing.push("pids controller: no limit on processes (fork bombs)".into()),
        Some(_) => {}
    }
    if mode == SandboxMode::Require && !missing.is_empty() {
        return Err(std::io::Error::other(format!(
            "--sandbox require, but this host cannot give: {}",
            missing.join("; ")
        )));
    }
    for m in &missing {
        tracing::warn!("sandbox: missing {m}");
    }
    if probed.is_err() {
        return Ok(None);
    }
    tracing::info!(
        ?uids,
        "sandbox: each function its own uid/gid, no capabilities, no new privileges; own mount \
         namespace (host system dirs read-only, code read-only at /var/task, private /tmp, no data \
         dir, /proc showing only its own processes); cgroups joined before exec; its Runtime API \
         and the management API refuse other uids; its own pid namespace, ended with the instance \
         (where available)"
    );
    Ok(Some(jail))
}

/// The host's system directories, read-only (symlinks where merged into /usr).
fn system(ops: &mut Vec<Op>, root: &Path) {
    for name in SYSTEM {
        let host = Path::new("/").join(name);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(&host) {
                    ops.push(Op::Symlink(c(target), c(root.join(name))));
                }
            }
            Ok(m) if m.is_dir() => bind(ops, &host, root, true),
            _ => {}
        }
    }
}

/// The harmless devices, bound from the host's, and the /dev/fd links.
fn devices(ops: &mut Vec<Op>, at: &dyn Fn(&str) -> CString) {
    for d in DEVICES {
        let dst = at(&format!("/dev/{d}"));
        ops.push(Op::Touch(dst.clone()));
        ops.push(Op::Bind {
            src: c(format!("/dev/{d}")),
            dst,
            ro: false,
        });
    }
    for (name, fd) in [
        ("fd", ""),
        ("stdin", "/0"),
        ("stdout", "/1"),
        ("stderr", "/2"),
    ] {
        ops.push(Op::Symlink(
            c(format!("/proc/self/fd{fd}")),
            at(&format!("/dev/{name}")),
        ));
    }
}

/// A read-only (or writable) bind of host `src` at the same path under `root`,
/// with its parent directories made first.
fn bind(ops: &mut Vec<Op>, src: &Path, root: &Path, ro: bool) {
    let rel = src.strip_prefix("/").unwrap_or(src);
    let mut dir = root.to_path_buf();
    for part in rel.components() {
        dir.push(part);
        ops.push(Op::Mkdir(c(&dir)));
    }
    ops.push(Op::Bind {
        src: c(src),
        dst: c(&dir),
        ro,
    });
}

/// The interpreter installs at `paths` that lie outside the system directories
/// (which every instance sees anyway), without ones nested in another.
pub(crate) fn install_roots<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        let path = Path::new(p);
        let Some(first) = path.components().nth(1) else {
            continue;
        };
        let first = first.as_os_str().to_string_lossy();
        if SYSTEM.contains(&first.as_ref()) || !p.starts_with('/') {
            continue;
        }
        if !out.iter().any(|o| path.starts_with(o)) {
            out.retain(|o| !o.starts_with(path));
            out.push(path.to_path_buf());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_roots_are_the_installs_outside_the_system_dirs() {
        let roots = install_roots([
            "/root/.pyenv/versions/3.11.7",
            "/root/.pyenv/versions/3.11.7/lib",
            "/usr",
            "/home/ann/.nvm/versions/node/v20.1.0",
            "relative/x",
        ]);
        assert_eq!(
            roots,
            vec![
                PathBuf::from("/root/.pyenv/versions/3.11.7"),
                PathBuf::from("/home/ann/.nvm/versions/node/v20.1.0")
            ]
        );
    }
}
