//! The serving side: answers a successor on the control socket, and on SIGHUP
//! starts one from the same binary path with the same arguments.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use ondol_engine::Engine;

use super::{fds, Ask, Offer, Stopped, SOCKET};

/// The listening control socket; handovers arrive on `next`.
pub struct Control {
    rx: tokio::sync::mpsc::Receiver<Handover>,
}

/// A successor that is ready: answer with [`Handover::stopped`] once this process
/// accepts no more.
pub struct Handover {
    stream: UnixStream,
    pub pid: u32,
}

impl Handover {
    /// Tells the successor it may accept now.
    pub fn stopped(self) {
        let msg = serde_json::to_string(&Stopped { stopped: true }).unwrap_or_default();
        if let Err(e) = fds::send(&self.stream, &msg, &[]) {
            tracing::warn!(error = %e, "could not tell the new process to accept");
        }
    }
}

struct Shared {
    listeners: Vec<(String, OwnedFd)>,
    engine: Engine,
    busy: AtomicBool,
    tx: tokio::sync::mpsc::Sender<Handover>,
}

impl Control {
    /// Listens on `<data_dir>/control.sock`, offering `listeners` to a successor.
    pub fn listen(
        data_dir: &Path,
        listeners: Vec<(String, OwnedFd)>,
        engine: Engine,
    ) -> Result<Self> {
        let path = data_dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let sock = UnixListener::bind(&path)
            .with_context(|| format!("binding the control socket {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let shared = Arc::new(Shared {
            listeners,
            engine,
            busy: AtomicBool::new(false),
            tx,
        });
        std::thread::Builder::new()
            .name("ondol-control".into())
            .spawn(move || accept_loop(sock, shared))?;
        Ok(Self { rx })
    }

    /// The next successor ready to take over.
    pub async fn next(&mut self) -> Option<Handover> {
        self.rx.recv().await
    }
}

fn accept_loop(sock: UnixListener, shared: Arc<Shared>) {
    for conn in sock.incoming() {
        let Ok(conn) = conn else { continue };
        if peer_uid(&conn) != Some(effective_uid()) {
            tracing::warn!("control socket: refused a process of another user");
            continue;
        }
        if shared.busy.swap(true, Ordering::SeqCst) {
            tracing::warn!("control socket: a takeover is already under way; refused another");
            continue;
        }
        let shared = shared.clone();
        std::thread::spawn(move || {
            if let Err(e) = answer(&conn, &shared) {
                tracing::error!(error = %e, "the new process gave up before the handover: this server keeps serving");
            }
            shared.busy.store(false, Ordering::SeqCst);
        });
    }
}

/// Offers the listeners, then waits for the successor to be ready.
fn answer(conn: &UnixStream, shared: &Shared) -> Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let (line, _) = fds::recv(conn)?;
    let Ask::Listeners { pid } = serde_json::from_str(&line)? else {
        anyhow::bail!("expected a request for the listeners, got {line}");
    };
    tracing::info!(
        pid,
        "a new process is taking over: passing the listening sockets"
    );
    let warm = shared
        .engine
        .warmth()
        .into_iter()
        .filter(|w| w.3 > 0)
        .map(|(f, v, _, ready)| (f, v, ready))
        .collect();
    let offer = Offer {
        pid: std::process::id(),
        listeners: shared.listeners.iter().map(|(n, _)| n.clone()).collect(),
        warm,
    };
    let fds: Vec<_> = shared.listeners.iter().map(|(_, fd)| fd.as_fd()).collect();
    fds::send(conn, &serde_json::to_string(&offer)?, &fds)?;
    // Restoring and warming may take a while: no deadline but the successor's own.
    conn.set_read_timeout(None)?;
    let (line, _) = fds::recv(conn).with_context(|| format!("pid {pid} hung up"))?;
    match serde_json::from_str(&line)? {
        Ask::Handover => {}
        other => anyhow::bail!("expected the handover, got {other:?}"),
    }
    let stream = conn.try_clone()?;
    shared
        .tx
        .blocking_send(Handover { stream, pid })
        .map_err(|_| anyhow::anyhow!("this server is already stopping"))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The uid of the process at the other end (SO_PEERCRED).
fn peer_uid(conn: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which is that large.
    let rc = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// The binary at this process's path now: after a package upgrade that is the new
/// version (the kernel marks the replaced one " (deleted)").
fn exe_path() -> Result<PathBuf> {
    let exe = std::fs::read_link("/proc/self/exe").context("reading /proc/self/exe")?;
    let s = exe.to_string_lossy();
    Ok(match s.strip_suffix(" (deleted)") {
        Some(p) => PathBuf::from(p),
        None => exe,
    })
}

/// Starts a successor (SIGHUP): the same binary path and arguments, plus
/// `--takeover`. Its exit before the handover is logged; this server keeps serving.
pub fn reexec() -> Result<u32> {
    let exe = exe_path()?;
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if !args.iter().any(|a| a == "--takeover") {
        args.push("--takeover".into());
    }
    let mut child = std::process::Command::new(&exe)
        .args(&args)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let pid = child.id();
    tracing::info!(pid, exe = %exe.display(), "SIGHUP: started a new process to take over");
    std::thread::spawn(move || {
        if let Ok(status) = child.wait() {
            if !status.success() {
                tracing::error!(pid, %status, "the new process failed before taking over: this server keeps serving");
            }
        }
    });
    Ok(pid)
}
