//! Instance processes: spawned in their own process group with a clean Lambda
//! environment, stdout+stderr on one pipe, a memory cgroup where the host allows,
//! and a parent-death signal so none outlives the server.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::spawn::Program;

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
) -> std::io::Result<Program> {
    Program::new(argv, cwd, env, out)
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

    /// The directory of the group named `name` (which `attach` creates).
    pub fn dir(&self, name: &str) -> PathBuf {
        match self {
            Self::V2(b) | Self::V1(b) => b.join(name),
        }
    }

    /// Creates a group for one instance limited to `bytes`, holding `pid`.
    pub fn attach(&self, name: &str, bytes: u64, pid: u32) -> std::io::Result<Cgroup> {
        let limit_file = match self {
            Self::V2(_) => "memory.max",
            Self::V1(_) => "memory.limit_in_bytes",
        };
        let dir = self.dir(name);
        std::fs::create_dir(&dir)?;
        let cg = Cgroup {
            dir,
            v2: matches!(self, Self::V2(_)),
        };
        std::fs::write(cg.dir.join(limit_file), bytes.to_string())?;
        if cg.v2 {
            let _ = std::fs::write(cg.dir.join("memory.swap.max"), "0");
        }
        std::fs::write(cg.dir.join("cgroup.procs"), pid.to_string())?;
        Ok(cg)
    }
}

/// One instance's memory cgroup; removed when dropped.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dir: PathBuf,
    v2: bool,
}

impl Cgroup {
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
    }
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
