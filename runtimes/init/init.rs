//! ondol's init: pid 1 of a sandboxed instance's own pid namespace.
//!
//! `init PROGRAM ARGV0 ARGS...` starts the runtime as its only child and reaps
//! every orphan the function leaves. A pid 1 ignores signals it has no handler
//! for, so a runtime there would miss the server's SIGTERM and leave zombies;
//! here the runtime is pid 2 and behaves as on a host. When the runtime ends,
//! init ends with its status (a signal `s` as exit code 128+s, since pid 1 cannot
//! die of its own signal), and the kernel kills everything else in the namespace.
//!
//! fd 3, if open, is the server's report pipe: a failed exec writes its errno
//! there, as the server's own spawn does; a successful one closes it.
//!
//! Built by `crates/ondol-engine/build.rs` as a small static binary (no loader,
//! no crates) and embedded in ondol.

use std::ffi::{c_char, c_int, c_void, CString};
use std::os::unix::ffi::OsStringExt;

/// glibc's `sigset_t`: 1024 bits.
#[repr(C)]
struct SigSet([u64; 16]);

extern "C" {
    fn fork() -> c_int;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char)
        -> c_int;
    fn sigfillset(set: *mut SigSet) -> c_int;
    fn sigemptyset(set: *mut SigSet) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwait(set: *const SigSet, sig: *mut c_int) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn write(fd: c_int, buf: *const c_void, n: usize) -> isize;
    fn close(fd: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, arg: c_int) -> c_int;
    fn _exit(code: c_int) -> !;
    fn __errno_location() -> *mut c_int;
}

const SIG_SETMASK: c_int = 2;
const SIGCHLD: c_int = 17;
const WNOHANG: c_int = 1;
const F_SETFD: c_int = 2;
const FD_CLOEXEC: c_int = 1;
const REPORT: c_int = 3;

fn cstrings(items: impl Iterator<Item = Vec<u8>>) -> Vec<CString> {
    items.filter_map(|b| CString::new(b).ok()).collect()
}

fn pointers(v: &[CString]) -> Vec<*const c_char> {
    v.iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The exit code that tells the server how the runtime ended.
fn mirrored(status: c_int) -> c_int {
    let sig = status & 0x7f;
    if sig == 0 {
        (status >> 8) & 0xff
    } else {
        128 + sig
    }
}

fn main() {
    let args = cstrings(std::env::args_os().skip(1).map(OsStringExt::into_vec));
    let env = cstrings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k.into_vec();
        kv.push(b'=');
        kv.extend(v.into_vec());
        kv
    }));
    if args.len() < 2 {
        eprintln!("usage: init PROGRAM ARGV0 [ARGS...]");
        std::process::exit(2);
    }
    let (argv, envp) = (pointers(&args[1..]), pointers(&env));
    // SAFETY: plain system calls on buffers that live until exec or exit; the
    // process is single-threaded, so fork is safe.
    unsafe {
        let mut all = SigSet([0; 16]);
        sigfillset(&mut all);
        // Every signal waits for `sigwait` below: pid 1 only sees signals it handles.
        sigprocmask(SIG_SETMASK, &all, std::ptr::null_mut());
        fcntl(REPORT, F_SETFD, FD_CLOEXEC);
        let child = fork();
        if child == 0 {
            let mut none = SigSet([0; 16]);
            sigemptyset(&mut none);
            sigprocmask(SIG_SETMASK, &none, std::ptr::null_mut());
            execve(args[0].as_ptr(), argv.as_ptr(), envp.as_ptr());
            let errno = *__errno_location();
            write(REPORT, (&errno as *const c_int).cast(), 4);
            _exit(127);
        }
        close(REPORT);
        if child < 0 {
            _exit(126);
        }
        loop {
            let mut sig = 0;
            sigwait(&all, &mut sig);
            // The server signals the whole process group, the runtime included:
            // nothing to forward. Other signals (from inside) are dropped.
            if sig != SIGCHLD {
                continue;
            }
            loop {
                let mut status = 0;
                let pid = waitpid(-1, &mut status, WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    _exit(mirrored(status));
                }
            }
        }
    }
}
