//! An instance's process, started on the host: its own process group forked by
//! the launcher thread (and told to the reaper), stdout+stderr captured as log
//! lines, memory watched and capped by a cgroup where the host allows, and its
//! exit observed once for everyone. The one place an instance process starts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::capture::Capture;
use crate::launcher;
use crate::memwatch::Watched;
use crate::reaper::Tracked;
use crate::sandbox::{self, kill_group, Cgroup};
use crate::spawn::Spawned;
use crate::spec::StartSpec;

pub(crate) struct Process {
    pub pgid: u32,
    /// `Some(why)` once the leader has exited.
    pub exit: watch::Receiver<Option<String>>,
    pub capture: Arc<Capture>,
    pub mem: Arc<Watched>,
    /// When the launcher saw the exec succeed.
    pub spawned_at: std::time::Instant,
}

/// Run when the process is gone, before anyone is told.
pub(crate) type OnExit = Box<dyn FnOnce() + Send>;

impl Process {
    /// Starts `argv` with exactly `env` in the function's code directory.
    pub async fn spawn(
        spec: &StartSpec,
        id: &Arc<str>,
        argv: &[String],
        env: &[(String, String)],
        netns: Option<std::os::fd::OwnedFd>,
        on_exit: OnExit,
    ) -> std::io::Result<Self> {
        let (read_end, write_end) = sandbox::pipe()?;
        let cgroup_dir = spec.cgroups.as_ref().map(|root| root.dir(id));
        let early = prepare_cgroup(spec, id)?;
        let join = early.as_ref().map(Cgroup::procs_files).unwrap_or_default();
        let cmd = sandbox::command(
            argv,
            &spec.code_dir,
            env,
            write_end,
            spec.jail.clone(),
            join,
            netns,
        )?;
        let (child, tracked, spawned_at) =
            launcher::spawn(cmd, cgroup_dir, spec.reaper.clone()).await?;
        let pgid = tracked.pgid;
        let (sink, function, version) = (
            spec.sink.clone(),
            spec.function.clone(),
            spec.version.clone(),
        );
        let capture = match Capture::new(read_end, sink, function, version, id.clone()) {
            Ok(c) => c,
            Err(e) => {
                kill_group(pgid, libc::SIGKILL);
                return Err(e);
            }
        };
        tokio::spawn(capture.clone().run());
        let mem = watch_memory(spec, id, pgid, early);
        let exit = watch_exit(child, tracked, spec, mem.clone(), on_exit);
        Ok(Self {
            pgid,
            exit,
            capture,
            mem,
            spawned_at,
        })
    }

    pub fn kill(&self) {
        kill_group(self.pgid, libc::SIGKILL);
    }

    pub fn is_alive(&self) -> bool {
        self.exit.borrow().is_none()
    }

    /// How the process ended ("exited" if it hasn't been seen to).
    pub fn why(&self) -> String {
        self.exit
            .borrow()
            .clone()
            .unwrap_or_else(|| "exited".into())
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the process is gone.
    pub async fn stop(&self, grace: Duration) {
        if !self.is_alive() {
            return;
        }
        kill_group(self.pgid, libc::SIGTERM);
        let mut exit = self.exit.clone();
        if tokio::time::timeout(grace, exit.wait_for(Option::is_some))
            .await
            .is_err()
        {
            self.kill();
            let _ = exit.wait_for(Option::is_some).await;
        }
    }
}

/// The memory limit: the watchdog at once, the cgroup as soon as it is joined.
fn watch_memory(spec: &StartSpec, id: &Arc<str>, pgid: u32, early: Option<Cgroup>) -> Arc<Watched> {
    let limit_bytes = u64::from(spec.memory_mb) * 1024 * 1024;
    let mem = Arc::new(Watched {
        pgid,
        limit_bytes,
        peak_bytes: AtomicU64::new(0),
        oom_killed: AtomicBool::new(false),
        cgroup: Mutex::new(None),
        exited: AtomicBool::new(false),
    });
    if let Some(cg) = early {
        mem.adopt(cg);
    } else if let Some(root) = spec.cgroups.clone() {
        // Moving a process into a v1 cgroup waits for an RCU grace period (~10 ms
        // here): done beside the cold start, not in it. Until it lands, the
        // watchdog enforces the limit.
        let (mem, id) = (mem.clone(), id.clone());
        tokio::task::spawn_blocking(move || match root.attach(&id, limit_bytes, pgid) {
            Ok(cg) => mem.adopt(cg),
            Err(e) => {
                tracing::debug!(error = %e, "no cgroup for instance; the watchdog limits it")
            }
        });
    }
    spec.memwatch.watch(&mem);
    mem
}

/// A sandboxed instance's cgroups, made before the fork so that it joins them
/// itself before exec: early forks cannot escape the limits.
fn prepare_cgroup(spec: &StartSpec, id: &str) -> std::io::Result<Option<Cgroup>> {
    let (Some(root), Some(_)) = (&spec.cgroups, &spec.jail) else {
        return Ok(None);
    };
    let bytes = u64::from(spec.memory_mb) * 1024 * 1024;
    root.prepare(id, bytes).map(Some)
}

/// Waits for the leader's exit, cleans up after it, then tells everyone.
fn watch_exit(
    child: Spawned,
    tracked: Tracked,
    spec: &StartSpec,
    mem: Arc<Watched>,
    on_exit: OnExit,
) -> watch::Receiver<Option<String>> {
    let (exit_tx, exit_rx) = watch::channel(None);
    let reaper = spec.reaper.clone();
    let function = spec.function.clone();
    tokio::spawn(async move {
        let status = child.wait().await;
        // Stragglers in the group (and any daemon in the cgroup) go with it.
        kill_group(tracked.pgid, libc::SIGKILL);
        if let Some(r) = reaper {
            launcher::forget(tracked, r);
        }
        on_exit();
        // Judge OOM before anyone is told of the exit, while the cgroup is here.
        mem.exited.store(true, SeqCst);
        let cg = mem.cgroup.lock().take();
        if cg.as_ref().is_some_and(Cgroup::pids_hit) {
            tracing::warn!(
                function = %function,
                limit = sandbox::PIDS_MAX,
                "an instance hit its pids limit: forks and threads past it failed with EAGAIN"
            );
        }
        // The kernel's peak of the whole instance, also when it was killed for memory
        // between two watchdog samples.
        if let Some(peak) = cg.as_ref().and_then(Cgroup::peak_bytes) {
            mem.peak_bytes.fetch_max(peak, SeqCst);
        }
        if cg.as_ref().is_some_and(|c| c.oom_killed()) {
            mem.oom_killed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let _ = exit_tx.send(Some(status.map(describe).unwrap_or_else(|e| e.to_string())));
        if cg.is_some() {
            tokio::task::spawn_blocking(move || drop(cg));
        }
    });
    exit_rx
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(libc::SIGKILL) => "signal: killed".into(),
        Some(libc::SIGTERM) => "signal: terminated".into(),
        Some(libc::SIGSEGV) => "signal: segmentation fault".into(),
        Some(libc::SIGABRT) => "signal: aborted".into(),
        Some(s) => format!("signal: {s}"),
        None => "unknown exit".into(),
    }
}
