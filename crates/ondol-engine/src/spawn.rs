//! Starting an instance process as posix_spawn does, with `clone(CLONE_VM |
//! CLONE_VFORK)`: the child borrows the server's memory until it execs, so no page
//! table is copied (a `fork` of the server cost 2–4 ms per cold start, in page-table
//! copies and the copy-on-write faults after it), while still doing the setup
//! posix_spawn cannot: the cgroup join, the sandbox (`enter.rs`), its own pid
//! namespace (led by the instance init, `runtimes/init/init.rs`) and the
//! parent-death signal. The child makes only
//! async-signal-safe system calls on data the parent prepared, and reports a
//! failure's errno through a close-on-exec pipe.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;

use libc::{c_char, c_int, c_void};
use tokio::io::unix::AsyncFd;

use crate::enter;
use crate::jail::Plan;

/// A program to start: everything the child needs, prepared by the parent.
pub(crate) struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
    /// Becomes the child's stdout and stderr.
    out: OwnedFd,
    /// The sandbox to enter before exec, if any.
    jail: Option<Arc<Plan>>,
    /// Cgroup membership files (`cgroup.procs` / `tasks`) the child writes itself into first.
    join: Vec<CString>,
    /// Whether the child leads its own pid namespace, running the program under init.
    init: bool,
    /// A network namespace to enter (no network).
    netns: Option<OwnedFd>,
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in argument"))
}

/// `name` as `execvp` would find it, searching the child's own `PATH`.
fn resolve(name: &str, cwd: &Path, env: &[(String, String)]) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("/usr/local/bin:/usr/bin:/bin", |(_, v)| v.as_str());
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = if Path::new(dir).is_absolute() {
            Path::new(dir).join(name)
        } else {
            cwd.join(dir).join(name)
        };
        let Ok(c) = CString::new(candidate.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: access reads a NUL-terminated path we own.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
            return candidate;
        }
    }
    PathBuf::from(name)
}

impl Program {
    /// `argv` in `cwd` with exactly `env`; `out` receives stdout and stderr.
    pub fn new(
        argv: &[String],
        cwd: &Path,
        env: &[(String, String)],
        out: OwnedFd,
        jail: Option<Arc<Plan>>,
        join: Vec<CString>,
        netns: Option<OwnedFd>,
    ) -> io::Result<Self> {
        let first = argv
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
        let path = cstring(resolve(first, cwd, env).as_os_str().as_bytes())?;
        let mut args = argv
            .iter()
            .map(|a| cstring(a.as_bytes()))
            .collect::<io::Result<Vec<_>>>()?;
        // Under init: `init PROGRAM ARGV0 ARGS...`.
        let init = jail.as_ref().and_then(|j| j.init.clone());
        let path = match &init {
            Some(init) => {
                args.splice(0..0, [init.clone(), path]);
                init.clone()
            }
            None => path,
        };
        Ok(Self {
            path,
            argv: args,
            envp: env
                .iter()
                .map(|(k, v)| cstring(format!("{k}={v}").as_bytes()))
                .collect::<io::Result<_>>()?,
            cwd: cstring(OsStr::new(cwd).as_bytes())?,
            out,
            jail,
            join,
            init: init.is_some(),
            netns,
        })
    }
}

/// What the child reads; every pointer stays valid until it has exec'd, because the
/// parent is suspended (CLONE_VFORK) until then.
struct Ctx {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    out: c_int,
    null: c_int,
    report: c_int,
    /// A pidfd of the server: readable once it has died.
    server: c_int,
    init: bool,
    /// A network namespace fd to enter, or -1.
    netns: c_int,
    /// One past the highest signal number.
    nsig: c_int,
    jail: Option<*const Plan>,
    join: *const [CString],
}

/// Reports errno to the parent and ends the child.
///
/// SAFETY: only called in the cloned child, with `report` open.
unsafe fn fail(report: c_int, errno: c_int) -> ! {
    // SAFETY: write and _exit are async-signal-safe; the buffer is on our stack.
    unsafe {
        libc::write(report, (&errno as *const c_int).cast(), 4);
        libc::_exit(127)
    }
}

extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `Ctx`, alive while the parent is suspended; only
    // async-signal-safe calls follow, and nothing is allocated.
    unsafe {
        let c = &*(arg as *const Ctx);
        let errno = || *libc::__errno_location();
        // The server's handlers must not run here, on its memory: defaults for all.
        for sig in 1..c.nsig {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction != libc::SIG_DFL
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        // Into the instance's cgroups before anything else: every fork it ever
        // makes is limited and counted.
        for procs in &*c.join {
            if let Err(e) = enter::join(procs) {
                fail(c.report, e.raw_os_error().unwrap_or(libc::EIO));
            }
        }
        if c.netns >= 0 && libc::setns(c.netns, libc::CLONE_NEWNET) != 0 {
            fail(c.report, errno());
        }
        if let Some(plan) = c.jail {
            if let Err(e) = enter::enter(&*plan) {
                fail(c.report, e.raw_os_error().unwrap_or(libc::EIO));
            }
        }
        // After the uid change, which clears it: SIGKILL when the thread that cloned
        // us dies (the launcher, which lives as long as the server). If the server
        // already died, nobody would send it.
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            fail(c.report, errno());
        }
        let mut server = libc::pollfd {
            fd: c.server,
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut server, 1, 0) != 0 {
            fail(c.report, libc::ESRCH);
        }
        if libc::setpgid(0, 0) != 0 {
            fail(c.report, errno());
        }
        if libc::dup2(c.null, 0) < 0 || libc::dup2(c.out, 1) < 0 || libc::dup2(c.out, 2) < 0 {
            fail(c.report, errno());
        }
        // A jailed child is already in its directory, inside its own root.
        if c.jail.is_none() && libc::chdir(c.cwd) != 0 {
            fail(c.report, errno());
        }
        // Init reports its own exec of the program on fd 3, then closes it.
        if c.init {
            let ok = if c.report == 3 {
                libc::fcntl(3, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(c.report, 3) == 3
            };
            if !ok {
                fail(c.report, errno());
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(c.path, c.argv, c.envp);
        fail(c.report, errno())
    }
}

/// What the view holder shares with its parent (CLONE_VM).
struct Hold {
    plan: *const Plan,
    view: c_int,
    errno: c_int,
}

extern "C" fn holder(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `Hold`, alive while the parent is suspended;
    // every signal stays blocked (as across the clone), so no handler runs here.
    unsafe {
        let h = &mut *(arg as *mut Hold);
        if let Err(e) = enter::hold(&*h.plan, &mut h.view) {
            h.errno = e.raw_os_error().unwrap_or(libc::EIO);
        }
        libc::_exit(0)
    }
}

/// Builds `plan`'s shared view once, in a mount namespace that outlives the
/// short-lived process that built it: the returned fd keeps it.
pub(crate) fn hold_view(plan: &Plan) -> io::Result<OwnedFd> {
    let mut h = Hold {
        plan,
        view: -1,
        errno: 0,
    };
    let mut stack = vec![0u8; 64 * 1024];
    // SAFETY: as in `spawn`; CLONE_FILES lets the child's fd land in our table.
    unsafe {
        let top = stack.as_mut_ptr().add(stack.len()) as usize & !15;
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::SIGCHLD;
        let pid = libc::clone(
            holder,
            top as *mut c_void,
            flags,
            (&mut h as *mut Hold).cast(),
        );
        let err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(err);
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        let view = (h.view >= 0).then(|| OwnedFd::from_raw_fd(h.view));
        match (h.errno, view) {
            (0, Some(v)) => Ok(v),
            (0, None) => Err(io::Error::other("the view holder left no namespace")),
            (e, _) => Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// A started process: its pid (the leader of its own process group) and a pidfd
/// that becomes readable when it exits.
pub(crate) struct Spawned {
    pub pid: u32,
    pidfd: OwnedFd,
    /// Init's exit code 128+s means the program died of signal s.
    init: bool,
}

/// A pidfd of this process, for children to see whether the server still lives
/// (`getppid` says nothing from inside a new pid namespace).
fn server_pidfd() -> io::Result<c_int> {
    static FD: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = FD.get() {
        return Ok(fd.as_raw_fd());
    }
    // SAFETY: pidfd_open of our own pid.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) } as c_int;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just created and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(FD.get_or_init(|| fd).as_raw_fd())
}

/// Starts `p`. Runs on the launcher thread (see `launcher.rs`).
pub(crate) fn spawn(p: &Program) -> io::Result<Spawned> {
    let (report_r, report_w) = crate::sandbox::blocking_pipe()?;
    // SAFETY: open of a constant path; the fd is owned right away.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if null < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `null` was just opened and is owned by nobody else.
    let null = unsafe { OwnedFd::from_raw_fd(null) };
    let ptrs = |v: &[CString]| -> Vec<*const c_char> {
        v.iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv, envp) = (ptrs(&p.argv), ptrs(&p.envp));
    let ctx = Ctx {
        path: p.path.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: p.cwd.as_ptr(),
        out: p.out.as_raw_fd(),
        null: null.as_raw_fd(),
        report: report_w.as_raw_fd(),
        server: server_pidfd()?,
        init: p.init,
        netns: p.netns.as_ref().map_or(-1, |f| f.as_raw_fd()),
        nsig: libc::SIGRTMAX() + 1,
        jail: p.jail.as_deref().map(|j| j as *const Plan),
        join: p.join.as_slice() as *const [CString],
    };
    let mut stack = vec![0u8; 64 * 1024];
    // SAFETY: the stack outlives the child's use of it (the parent resumes only once
    // the child has exec'd or exited); every signal is blocked across the clone so no
    // handler runs in the child before it resets them; `ctx` outlives the call.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.len()) as usize & !15;
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let ns = if p.init { libc::CLONE_NEWPID } else { 0 };
        let pid = libc::clone(
            child,
            top as *mut c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | ns | libc::SIGCHLD,
            (&ctx as *const Ctx).cast_mut().cast(),
        );
        let err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(err);
        }
        pid
    };
    drop(report_w);
    let mut errno = [0u8; 4];
    // SAFETY: read into a 4-byte buffer we own; the child has exec'd or exited.
    let n = unsafe { libc::read(report_r.as_raw_fd(), errno.as_mut_ptr().cast(), 4) };
    if n == 4 {
        let mut status = 0;
        // SAFETY: reaps our own child, which has exited.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
    }
    // SAFETY: pidfd_open on our own, unreaped child.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as c_int;
    if fd < 0 {
        let err = io::Error::last_os_error();
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        return Err(err);
    }
    // SAFETY: the pidfd was just created and is owned by nobody else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(Spawned {
        pid: pid as u32,
        pidfd,
        init: p.init,
    })
}

impl Spawned {
    /// Waits for the process to exit and reaps it.
    pub async fn wait(self) -> io::Result<ExitStatus> {
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open as long as it.
        let fd =
            unsafe { AsyncFd::register_with_interest(self.pidfd, tokio::io::Interest::READABLE) }
                .map_err(io::Error::from)?;
        loop {
            let mut ready = fd.readable().await?;
            let mut status = 0;
            // SAFETY: reaps our own child without blocking.
            let r = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut status, libc::WNOHANG) };
            if r == self.pid as libc::pid_t {
                let status = ExitStatus::from_raw(status);
                return Ok(match status.code() {
                    Some(c) if self.init && (129..=192).contains(&c) => {
                        ExitStatus::from_raw(c - 128)
                    }
                    _ => status,
                });
            }
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            ready.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(argv: &[&str], out: OwnedFd) -> Program {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let env = [
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ("X".into(), "42".into()),
        ];
        Program::new(&argv, Path::new("/tmp"), &env, out, None, Vec::new(), None).unwrap()
    }

    #[tokio::test]
    async fn runs_with_exactly_its_environment_in_its_directory() {
        let (r, w) = crate::sandbox::blocking_pipe().unwrap();
        let p = program(&["sh", "-c", "echo $X $(pwd) $(env | wc -l); exit 3"], w);
        let child = spawn(&p).unwrap();
        drop(p);
        assert_eq!(child.wait().await.unwrap().code(), Some(3));
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).unwrap();
        // sh adds PWD, SHLVL and _ to the two variables it was given.
        assert!(out.starts_with("42 /tmp "), "{out}");
    }

    #[test]
    fn a_missing_program_is_an_error_not_a_child() {
        let (_r, w) = crate::sandbox::blocking_pipe().unwrap();
        let e = spawn(&program(&["/nonexistent/prog"], w)).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn leads_its_own_process_group() {
        let (_r, w) = crate::sandbox::blocking_pipe().unwrap();
        let child = spawn(&program(&["sleep", "5"], w)).unwrap();
        // SAFETY: getpgid reads a pid.
        assert_eq!(unsafe { libc::getpgid(child.pid as i32) }, child.pid as i32);
        crate::sandbox::kill_group(child.pid, libc::SIGKILL);
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    }
}
