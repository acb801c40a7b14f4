//! The child's side of the sandbox: after the fork and before exec, it joins its
//! cgroups, enters a copy of its version's view (built once by `hold`, or here
//! from the prepared `Plan`), mounts its own `/tmp`, `/proc` and `/dev/shm`, and
//! drops to its own uid. Only system calls on strings made before the fork: no
//! allocation, nothing that could wait on a lock another thread held.

use std::ffi::CString;
use std::os::fd::AsRawFd;

use crate::jail::{Op, Plan};

fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Enters the sandbox. Runs in the forked child before exec: system calls on the
/// plan's prepared strings only, no allocation.
///
/// # Safety
/// Call only in a freshly forked child (it changes the process's namespaces,
/// root and credentials).
pub(crate) unsafe fn enter(plan: &Plan) -> std::io::Result<()> {
    // SAFETY: system calls on NUL-terminated strings the plan owns; the caller
    // guarantees a freshly forked child.
    unsafe {
        match &plan.template {
            // A copy of the version's view: setns puts us at its root.
            Some(view) => {
                check(libc::setns(view.as_raw_fd(), libc::CLONE_NEWNS))?;
                check(libc::unshare(libc::CLONE_NEWNS))?;
            }
            None => {
                check(libc::unshare(libc::CLONE_NEWNS))?;
                build(plan)?;
            }
        }
        for op in &plan.instance {
            run(op)?;
        }
        check(libc::chdir(plan.cwd.as_ptr()))?;
        let id = plan.uid;
        // Raw system calls, not glibc's wrappers: those broadcast a credential
        // change to every thread glibc knows of, and a child cloned with CLONE_VM
        // (`spawn.rs`) shares the server's thread list.
        check(
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) as libc::c_int,
        )?;
        check(libc::syscall(libc::SYS_setresgid, id, id, id) as libc::c_int)?;
        check(libc::syscall(libc::SYS_setresuid, id, id, id) as libc::c_int)?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    }
}

/// Builds the version's shared view in a new, empty mount namespace and leaves
/// it there for instances to copy: its fd is written to `view`.
///
/// # Safety
/// Call only in a child cloned with CLONE_FILES (the fd is for its parent).
pub(crate) unsafe fn hold(plan: &Plan, view: &mut libc::c_int) -> std::io::Result<()> {
    // SAFETY: as `enter`.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        let fd = libc::open(
            c"/proc/self/ns/mnt".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        *view = fd;
        build(plan)
    }
}

/// The view, in the current (new) mount namespace: a tmpfs root with the plan's
/// mounts, sealed read-only, pivoted into, the host's root gone.
unsafe fn build(plan: &Plan) -> std::io::Result<()> {
    // SAFETY: system calls on NUL-terminated strings the plan owns.
    unsafe {
        let null = std::ptr::null::<libc::c_char>();
        // Nothing mounted here propagates back to the host.
        check(libc::mount(
            null,
            c"/".as_ptr(),
            null,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        let flags = libc::MS_NOSUID | libc::MS_NODEV;
        check(libc::mount(
            c"tmpfs".as_ptr(),
            plan.root.as_ptr(),
            c"tmpfs".as_ptr(),
            flags,
            c"mode=0755,size=1m".as_ptr().cast(),
        ))?;
        for op in &plan.ops {
            run(op)?;
        }
        // The new root's skeleton is read-only too; /tmp and /dev/shm are their own mounts.
        let ro = libc::MS_REMOUNT | libc::MS_RDONLY | flags;
        check(libc::mount(
            null,
            plan.root.as_ptr(),
            null,
            ro,
            std::ptr::null(),
        ))?;
        check(libc::chdir(plan.root.as_ptr()))?;
        // The old root goes under the new one, then away: nothing else stays reachable.
        check(libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int)?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
        check(libc::chdir(c"/".as_ptr()))
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` (v2) or `tasks`
/// (v1) file is `procs`.
///
/// # Safety
/// Call only in a freshly forked child (system calls only).
pub(crate) unsafe fn join(procs: &CString) -> std::io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path and a static buffer.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // "0" is the writer itself.
        let n = libc::write(fd, c"0".as_ptr().cast(), 1);
        libc::close(fd);
        if n != 1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One step; see `Op`.
unsafe fn run(op: &Op) -> std::io::Result<()> {
    // SAFETY: system calls on NUL-terminated strings the plan owns.
    unsafe {
        let null = std::ptr::null::<libc::c_char>();
        match op {
            Op::Mkdir(p) => {
                if libc::mkdir(p.as_ptr(), 0o755) != 0 && *libc::__errno_location() != libc::EEXIST
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            }
            Op::Touch(p) => {
                let fd = libc::open(
                    p.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                Ok(())
            }
            Op::Symlink(target, at) => check(libc::symlink(target.as_ptr(), at.as_ptr())),
            Op::Bind { src, dst, ro } => {
                check(libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    null,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                if *ro {
                    let flags = libc::MS_BIND
                        | libc::MS_REMOUNT
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | libc::MS_NODEV;
                    check(libc::mount(
                        null,
                        dst.as_ptr(),
                        null,
                        flags,
                        std::ptr::null(),
                    ))?;
                }
                Ok(())
            }
            Op::Mount {
                fs,
                dst,
                flags,
                data,
            } => check(libc::mount(
                fs.as_ptr(),
                dst.as_ptr(),
                fs.as_ptr(),
                *flags,
                data.as_ptr().cast(),
            )),
        }
    }
}
