//! Instance processes: spawned in their own process group with a clean Lambda
//! environment, stdout+stderr on one pipe, a memory cgroup where the host allows,
//! and a parent-death signal so none outlives the server.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::spawn::Program;

use crate::jail::Plan;

/// Creates a pipe, both ends blocking and close-on-exec.
pub(crate) fn blocking_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fresh fds into the array on success.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Creates a pipe whose read end is non-blocking (both ends close-on-exec).
pub(crate) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = blocking_pipe()?;
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(r.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(r.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    Ok((r, w))
}

/// How to start `argv` in `cwd` with exactly `env`, output to `out`, in a new
/// process group whose leader dies with the server. Spawn it on the launcher thread.
pub(crate) fn command(
    argv: &[String],
    cwd: &Path,
    env: &[(String, String)],
    out: OwnedFd,
    jail: Option<Arc<Plan>>,
    join: Vec<std::ffi::CString>,
    netns: Option<OwnedFd>,
) -> std::io::Result<Program> {
    Program::new(argv, cwd, env, out, jail, join, netns)
}

/// Sends `sig` to the whole process group led by `pgid`.
pub(crate) fn kill_group(pgid: u32, sig: i32) {
    if pgid > 1 {
        // SAFETY: killpg has no memory-safety preconditions.
        unsafe {
            libc::killpg(pgid as libc::pid_t, sig);
        }
    }
}

/// Which cgroup hierarchy limits instance memory on this host.
#[derive(Debug, Clone)]
pub(crate) enum CgroupRoot {
    V2(PathBuf),
    V1(PathBuf),
}

impl CgroupRoot {
    /// Finds a writable memory hierarchy and makes ondol's parent group in it.
    pub fn detect() -> Option<Self> {
        let v2 = Path::new("/sys/fs/cgroup");
        if let Ok(ctrl) = std::fs::read_to_string(v2.join("cgroup.controllers")) {
            if ctrl.split_whitespace().any(|c| c == "memory") {
                let base = v2.join("ondol");
                let ok = std::fs::create_dir_all(&base).is_ok()
                    && std::fs::write(v2.join("cgroup.subtree_control"), "+memory").is_ok()
                    && std::fs::write(base.join("cgroup.subtree_control"), "+memory").is_ok();
                if ok {
                    // Best effort: where the host delegates them, pids and cpu too.
                    for c in ["+pids", "+cpu"] {
                        let _ = std::fs::write(v2.join("cgroup.subtree_control"), c);
                        let _ = std::fs::write(base.join("cgroup.subtree_control"), c);
                    }
                    return Some(Self::V2(base));
                }
            }
        }
        let v1 = Path::new("/sys/fs/cgroup/memory");
        if v1.join("memory.limit_in_bytes").exists() {
            let base = v1.join("ondol");
            if std::fs::create_dir_all(&base).is_ok() && base.join("memory.limit_in_bytes").exists()
            {
                return Some(Self::V1(base));
            }
        }
        None
    }

    /// Whether a pids limit can be set beside the memory limit.
    pub fn has_pids(&self) -> bool {
        match self {
            Self::V2(b) => std::fs::read_to_string(b.join("cgroup.subtree_control"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "pids")),
            Self::V1(_) => {
                Path::new("/sys/fs/cgroup/pids/pids.max").exists()
                    || Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists()
            }
        }
    }

    /// The directory of the group named `name` (which `attach` creates).
    pub fn dir(&self, name: &str) -> PathBuf {
        match self {
            Self::V2(b) | Self::V1(b) => b.join(name),
        }
    }

    /// Creates a group for one instance limited to `bytes`, holding `pid`.
    pub fn attach(&self, name: &str, bytes: u64, pid: u32) -> std::io::Result<Cgroup> {
        let cg = self.prepare(name, bytes)?;
        std::fs::write(cg.dir.join("cgroup.procs"), pid.to_string())?;
        Ok(cg)
    }

    /// Creates an empty group for one instance limited to `bytes`; on cgroup v1,
    /// sibling groups in the pids and cpu hierarchies too, where they exist: at
    /// most 1,024 processes, CPU shares in proportion to memory (1,769 MB = one
    /// CPU's 1,024 shares). The instance joins them all itself before exec.
    pub fn prepare(&self, name: &str, bytes: u64) -> std::io::Result<Cgroup> {
        let limit_file = match self {
            Self::V2(_) => "memory.max",
            Self::V1(_) => "memory.limit_in_bytes",
        };
        let dir = self.dir(name);
        std::fs::create_dir(&dir)?;
        let mut cg = Cgroup {
            dir,
            v2: matches!(self, Self::V2(_)),
            siblings: Vec::new(),
        };
        std::fs::write(cg.dir.join(limit_file), bytes.to_string())?;
        let shares = (bytes / (1024 * 1024) * 1024 / 1769).max(2);
        if cg.v2 {
            let _ = std::fs::write(cg.dir.join("memory.swap.max"), "0");
            let _ = std::fs::write(cg.dir.join("pids.max"), PIDS_MAX.to_string());
            let _ = std::fs::write(
                cg.dir.join("cpu.weight"),
                (shares * 100 / 1024).clamp(1, 10_000).to_string(),
            );
            return Ok(cg);
        }
        for (ctrl, file, value) in [
            ("pids", "pids.max", PIDS_MAX.to_string()),
            ("cpu", "cpu.shares", shares.to_string()),
        ] {
            let base = Path::new("/sys/fs/cgroup").join(ctrl).join("ondol");
            if std::fs::create_dir_all(&base).is_err() {
                continue;
            }
            let dir = base.join(name);
            if std::fs::create_dir(&dir).is_ok() {
                cg.siblings.push(dir.clone());
                std::fs::write(dir.join(file), value)?;
            }
        }
        Ok(cg)
    }
}

/// Lambda's limit on an execution environment's processes and threads.
pub(crate) const PIDS_MAX: u32 = 1024;

/// One instance's memory cgroup (and its v1 pids and cpu siblings); removed when
/// dropped.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dir: PathBuf,
    v2: bool,
    siblings: Vec<PathBuf>,
}

impl Cgroup {
    /// The files a process writes `0` to to join every group. On v1 that is
    /// `tasks`: a single thread moving itself skips the global threadgroup lock,
    /// whose write side waits for an RCU grace period (~5–15 ms per cold start
    /// through `cgroup.procs`, ~0.4 ms through `tasks`). The child is one thread.
    pub fn procs_files(&self) -> Vec<std::ffi::CString> {
        let file = if self.v2 { "cgroup.procs" } else { "tasks" };
        std::iter::once(&self.dir)
            .chain(&self.siblings)
            .filter_map(|d| {
                let p = d.join(file);
                std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok()
            })
            .collect()
    }

    /// Whether the pids limit refused a fork (v2 `pids.events`, v1 `pids.events`).
    pub fn pids_hit(&self) -> bool {
        std::iter::once(&self.dir)
            .chain(&self.siblings)
            .filter_map(|d| std::fs::read_to_string(d.join("pids.events")).ok())
            .any(|s| {
                s.lines()
                    .any(|l| l.strip_prefix("max ").is_some_and(|n| n.trim() != "0"))
            })
    }

    /// Peak memory use in bytes as the kernel counted it.
    pub fn peak_bytes(&self) -> Option<u64> {
        let f = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        std::fs::read_to_string(self.dir.join(f))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether the kernel OOM-killed something in the group.
    pub fn oom_killed(&self) -> bool {
        let f = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        std::fs::read_to_string(self.dir.join(f))
            .map(|s| {
                s.lines()
                    .any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"))
            })
            .unwrap_or(false)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        remove_cgroup(&self.dir);
        for d in &self.siblings {
            remove_cgroup(d);
        }
    }
}

/// The pids and cpu groups beside a v1 memory group `…/memory/ondol/<id>` (made by
/// `prepare` for sandboxed instances), to remove with it.
pub(crate) fn v1_siblings(dir: &Path) -> Vec<PathBuf> {
    let (Some(id), Some(ondol)) = (dir.file_name(), dir.parent()) else {
        return Vec::new();
    };
    if ondol.parent() != Some(Path::new("/sys/fs/cgroup/memory")) {
        return Vec::new();
    }
    ["pids", "cpu"]
        .iter()
        .map(|c| Path::new("/sys/fs/cgroup").join(c).join("ondol").join(id))
        .filter(|d| d.is_dir())
        .collect()
}

/// Kills every process in an instance's cgroup (daemons that left its process
/// group included), then removes the group.
pub(crate) fn remove_cgroup(dir: &Path) {
    // v2 kills the whole group at once, forks in flight included.
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    // The kernel refuses rmdir until the last process is gone; kill and retry briefly.
    for _ in 0..50 {
        let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
            return;
        };
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        if std::fs::remove_dir(dir).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}
