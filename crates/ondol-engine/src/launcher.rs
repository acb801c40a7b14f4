//! The launcher: one thread, alive as long as the process, forks every instance and
//! tells the reaper about it. An instance's parent-death signal fires when the
//! *thread* that forked it exits (prctl(2)), not the process: a tokio blocking
//! thread exits after 10 s idle, and `block_in_place` can turn a worker into one,
//! so forking anywhere else would kill instances at random. The reaper's notes are
//! written here too, so a slow reaper never blocks a runtime thread.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use tokio::sync::oneshot;

use crate::reaper::{proc_start_time, Reaper, Tracked};
use crate::spawn::{self, Program, Spawned};

enum Job {
    Spawn {
        program: Box<Program>,
        cgroup: Option<PathBuf>,
        reaper: Option<Arc<Reaper>>,
        reply: oneshot::Sender<std::io::Result<(Spawned, Tracked, std::time::Instant)>>,
    },
    Gone {
        tracked: Tracked,
        reaper: Arc<Reaper>,
    },
}

/// The launcher's queue; its thread never exits (the sender is never dropped).
fn jobs() -> &'static mpsc::Sender<Job> {
    static JOBS: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    JOBS.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("ondol-launcher".into())
            .spawn(move || run(&rx))
            .expect("spawn the launcher thread");
        tx
    })
}

fn run(rx: &mpsc::Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        match job {
            Job::Spawn {
                program,
                cgroup,
                reaper,
                reply,
            } => {
                let spawned = spawn::spawn(&program).map(|child| {
                    // Taken here, not when the reply is read: under load the
                    // runtime may reach its front before the caller wakes.
                    let at = std::time::Instant::now();
                    drop(program);
                    let pgid = child.pid;
                    let start_time = proc_start_time(pgid).unwrap_or(0);
                    let tracked = Tracked { pgid, start_time };
                    if let Some(r) = &reaper {
                        r.started(tracked, cgroup.as_deref());
                    }
                    (child, tracked, at)
                });
                let _ = reply.send(spawned);
            }
            Job::Gone { tracked, reaper } => reaper.gone(tracked),
        }
    }
}

/// Spawns `program` on the launcher thread and tells `reaper` of the new group.
pub(crate) async fn spawn(
    program: Program,
    cgroup: Option<PathBuf>,
    reaper: Option<Arc<Reaper>>,
) -> std::io::Result<(Spawned, Tracked, std::time::Instant)> {
    let (reply, rx) = oneshot::channel();
    let job = Job::Spawn {
        program: Box::new(program),
        cgroup,
        reaper,
        reply,
    };
    let gone = || std::io::Error::other("the launcher thread is gone");
    jobs().send(job).map_err(|_| gone())?;
    rx.await.map_err(|_| gone())?
}

/// Tells `reaper` that an instance's group is gone (without waiting).
pub(crate) fn forget(tracked: Tracked, reaper: Arc<Reaper>) {
    let _ = jobs().send(Job::Gone { tracked, reaper });
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use tokio::runtime::Handle;

    use super::*;
    use crate::sandbox;

    fn sleeper() -> Program {
        let (_r, w) = sandbox::blocking_pipe().unwrap();
        let argv = ["/bin/sleep".to_string(), "30".into()];
        sandbox::command(&argv, Path::new("/"), &[], w, None, Vec::new(), None).unwrap()
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    }

    /// Spawns on a short-lived thread: with `direct`, cloned by that thread itself.
    fn from_a_thread_that_exits(direct: bool) -> Spawned {
        let rt = Handle::current();
        std::thread::spawn(move || {
            rt.block_on(async {
                if direct {
                    spawn::spawn(&sleeper()).unwrap()
                } else {
                    spawn(sleeper(), None, None).await.unwrap().0
                }
            })
        })
        .join()
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_leader_dies_with_the_thread_that_forked_it() {
        let child = from_a_thread_that_exits(true);
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        assert!(status.is_ok(), "the parent-death signal killed it");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn an_instance_outlives_the_thread_that_asked_for_it() {
        let child = from_a_thread_that_exits(false);
        let pid = child.pid;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            alive(pid),
            "forked by the launcher thread, which never exits"
        );
        sandbox::kill_group(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
}
