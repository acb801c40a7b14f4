//! The reaper: a small process (the ondol binary re-run as `ondol reap <data-dir>`)
//! that kills every instance group a dead server left behind. The server holds the
//! write end of a pipe to it and notes each instance group (with its cgroup) as it
//! starts and stops; when the pipe hits end-of-file the server is gone, however it
//! died, and the reaper kills what it knows and exits. It keeps its list in
//! `<data-dir>/instances.pids`, so a restart kills what a run left behind even when
//! its reaper was killed too, before anything is served.
//!
//! The instance leaders also die by their parent-death signal (see `sandbox`); the
//! reaper is for what they spawned. A process that left the group (double fork and
//! `setsid`) is caught only through its cgroup, where the host gives ondol one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::sandbox::{blocking_pipe, remove_cgroup, v1_siblings};

/// The hidden subcommand that runs the reaper (`ondol reap <data-dir>`).
pub const COMMAND: &str = "reap";
/// The live instance groups of the server using a data dir.
const RECORD: &str = "instances.pids";
/// Held by a data dir's reaper for its whole life.
const LOCK: &str = "reaper.lock";
/// Reapers that may run at once on a data dir (a server and its successors).
const SLOTS: usize = 4;
/// How long a new reaper waits for a previous one to finish its cleanup.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// Instance cgroup directories lie under this.
const CGROUP_FS: &str = "/sys/fs/cgroup";

/// An instance's process group, told apart from a later one with the same id by
/// its leader's start time (clock ticks after boot, /proc/<pid>/stat field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tracked {
    pub pgid: u32,
    pub start_time: u64,
}

/// The server's end of its link to the reaper.
pub(crate) struct Reaper {
    pipe: File,
    broken: AtomicBool,
    _process: std::process::Child,
}

impl Reaper {
    /// Starts `exe reap <data_dir>` and waits until it has killed the leftovers of
    /// the data dir's previous run.
    pub fn start(exe: &Path, data_dir: &Path) -> std::io::Result<Self> {
        let (read, write) = blocking_pipe()?;
        // Its own process group: a kill of the server's group (Ctrl-C, kill -9 -pgid)
        // leaves it standing to clean up.
        let mut process = std::process::Command::new(exe)
            .arg(COMMAND)
            .arg(data_dir)
            .env_clear()
            .stdin(Stdio::from(read))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()?;
        let mut ready = String::new();
        if let Some(out) = process.stdout.take() {
            BufReader::new(out).read_line(&mut ready)?;
        }
        if ready.trim() != "ready" {
            return Err(std::io::Error::other(format!(
                "the reaper for {} did not start (its error is above)",
                data_dir.display()
            )));
        }
        Ok(Self {
            pipe: File::from(write),
            broken: AtomicBool::new(false),
            _process: process,
        })
    }

    /// Notes a new instance group (called on the launcher thread only).
    pub fn started(&self, t: Tracked, cgroup: Option<&Path>) {
        let cg = cgroup.map_or("-".into(), |c| c.display().to_string());
        self.note(&format!("+ {} {} {cg}\n", t.pgid, t.start_time));
    }

    /// Notes that an instance group is gone (called on the launcher thread only).
    pub fn gone(&self, t: Tracked) {
        self.note(&format!("- {} {}\n", t.pgid, t.start_time));
    }

    fn note(&self, line: &str) {
        if self.broken.load(Relaxed) {
            return;
        }
        // One write under PIPE_BUF: the reaper never reads half a line.
        if let Err(e) = (&self.pipe).write_all(line.as_bytes()) {
            self.broken.store(true, Relaxed);
            tracing::error!(error = %e, "the reaper is gone: instances may outlive a crash of this server");
        }
    }
}

/// The start time of process `pid` (clock ticks after boot), if it exists.
pub(crate) fn proc_start_time(pid: u32) -> Option<u64> {
    parse_start_time(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name may hold spaces and ')': fields start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    // rest[0] is field 3 (state); starttime is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// What the reaper knows of one live instance group, by process group id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    start_time: u64,
    cgroup: Option<PathBuf>,
}

type Groups = HashMap<u32, Entry>;

/// Runs the reaper until the server's end of stdin closes; the process exit code.
pub fn run(data_dir: &Path) -> ExitCode {
    ignore_signals();
    let Some((_lock, record)) = take_slot(data_dir) else {
        eprintln!(
            "ondol reaper: another ondol server is using {}",
            data_dir.display()
        );
        return ExitCode::FAILURE;
    };
    kill_leftovers(&record);
    // Runs whose reaper is gone (a successor's that crashed, say): theirs too.
    for n in 0..SLOTS {
        let (lock_path, other) = slot(data_dir, n);
        if other != record {
            if let Some(_held) = try_lock(&lock_path) {
                kill_leftovers(&other);
                let _ = std::fs::remove_file(&other);
            }
        }
    }
    let mut live = Groups::new();
    save(&record, &live);
    println!("ready");
    let _ = std::io::stdout().flush();

    let mut input = BufReader::new(std::io::stdin().lock());
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => apply(&mut live, &line),
        }
        // A burst of notes is saved once.
        if input.buffer().is_empty() {
            save(&record, &live);
        }
    }
    // After a graceful stop the groups are gone already (their last notes may not
    // have been written): only a crash leaves something to kill.
    let killed = kill_all(&live);
    if killed > 0 {
        eprintln!(
            "ondol reaper: the server is gone; killed {killed} instance group(s) it left running"
        );
    }
    let _ = std::fs::remove_file(&record);
    ExitCode::SUCCESS
}

/// Only the end of its pipe stops the reaper: a terminal's Ctrl-C or a service
/// manager's SIGTERM for the server must not take it before the server is gone.
fn ignore_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
        // SAFETY: SIG_IGN installs no handler code; nothing else handles these here.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
}

/// Slot `n`'s lock and record. A successor (`serve --takeover`) runs beside the
/// server it replaces for a moment, each with its own reaper: slot 0 is the
/// usual one, the others are for the overlap.
fn slot(data_dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    match n {
        0 => (data_dir.join(LOCK), data_dir.join(RECORD)),
        n => (
            data_dir.join(format!("reaper.{n}.lock")),
            data_dir.join(format!("instances.{n}.pids")),
        ),
    }
}

/// Takes a free slot (its lock, its record), waiting a little for a previous
/// reaper to finish when all are held.
fn take_slot(data_dir: &Path) -> Option<(File, PathBuf)> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        for n in 0..SLOTS {
            let (lock_path, record) = slot(data_dir, n);
            if let Some(f) = try_lock(&lock_path) {
                return Some((f, record));
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The lock at `path`, if no live reaper holds it.
fn try_lock(path: &Path) -> Option<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    // SAFETY: flock on an fd this function owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (rc == 0).then_some(file)
}

/// Kills the groups a record lists (a run that ended without its reaper's cleanup).
fn kill_leftovers(record: &Path) {
    let left = std::fs::read_to_string(record)
        .map(|s| parse_record(&s))
        .unwrap_or_default();
    if !left.is_empty() {
        eprintln!(
            "ondol reaper: killing {} instance group(s) a previous run left behind",
            left.len()
        );
        let killed = kill_all(&left);
        eprintln!("ondol reaper: {killed} of them still had processes, now killed");
    }
}

/// Applies one note from the server: `+ pgid start cgroup` or `- pgid start`.
fn apply(live: &mut Groups, line: &str) {
    let mut parts = line.trim_end().splitn(4, ' ');
    let (op, pgid, start) = (parts.next(), parts.next(), parts.next());
    let (Some(pgid), Some(start)) = (
        pgid.and_then(|p| p.parse().ok()),
        start.and_then(|s| s.parse().ok()),
    ) else {
        return;
    };
    match op {
        Some("+") => {
            let cgroup = parts.next().and_then(cgroup_dir);
            live.insert(
                pgid,
                Entry {
                    start_time: start,
                    cgroup,
                },
            );
        }
        // Only the group it names: a later one may have the same id.
        Some("-") if live.get(&pgid).is_some_and(|e| e.start_time == start) => {
            live.remove(&pgid);
        }
        _ => {}
    }
}

/// An instance's cgroup directory from a note or the record, if it is one: the
/// reaper kills what it holds, so nothing but `<cgroup fs>/.../ondol/<instance id>`.
fn cgroup_dir(s: &str) -> Option<PathBuf> {
    let p = Path::new(s);
    let plain = p
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let in_ondol = p
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "ondol");
    let instance = p
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()));
    (plain && in_ondol && instance && p.starts_with(CGROUP_FS)).then(|| p.to_path_buf())
}

fn parse_record(text: &str) -> Groups {
    let mut groups = Groups::new();
    for line in text.lines() {
        apply(&mut groups, &format!("+ {line}"));
    }
    groups
}

/// Writes the record whole (a new file renamed over the old one: a reaper killed
/// mid-write leaves the previous list). No fsync: a power loss leaves no process.
fn save(path: &Path, live: &Groups) {
    let text: String = live
        .iter()
        .map(|(pgid, e)| {
            let cg = e
                .cgroup
                .as_deref()
                .map_or("-".into(), |c| c.display().to_string());
            format!("{pgid} {} {cg}\n", e.start_time)
        })
        .collect();
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// Kills every group (first all at once, then each cgroup, which may take
/// retries); how many still had processes.
fn kill_all(groups: &Groups) -> usize {
    // SAFETY: getpgrp has no preconditions.
    let own = unsafe { libc::getpgrp() } as u32;
    let mut killed = 0;
    for (&pgid, e) in groups {
        if pgid > 1 && pgid != own && group_is_ours(pgid, e.start_time) {
            // SAFETY: killpg has no memory-safety preconditions.
            if unsafe { libc::killpg(pgid as libc::pid_t, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
    }
    for dir in groups.values().filter_map(|e| e.cgroup.as_deref()) {
        remove_cgroup(dir);
        for sibling in v1_siblings(dir) {
            remove_cgroup(&sibling);
        }
    }
    killed
}

/// Whether process group `pgid` is the instance group recorded with `start_time`.
/// A group keeps its id in use while it has members, so if its leader is gone
/// only the recorded group's stragglers can hold that id; if a process with that
/// id exists, it must be the recorded leader (same start time).
fn group_is_ours(pgid: u32, start_time: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pgid}/stat")) {
        Ok(stat) => parse_start_time(&stat) == Some(start_time),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_start_time_with_odd_names() {
        let s = "123 (a b) c) S 1 456 456 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 77 1";
        assert_eq!(parse_start_time(s), Some(98765));
        assert!(proc_start_time(std::process::id()).is_some());
    }

    #[test]
    fn notes_add_and_remove_only_the_same_group() {
        let mut live = Groups::new();
        apply(
            &mut live,
            &format!("+ 10 500 /sys/fs/cgroup/memory/ondol/{ID}\n"),
        );
        apply(&mut live, "+ 11 600 -\n");
        apply(&mut live, "- 11 599\n");
        assert_eq!(live.len(), 2, "a different start time is another group");
        apply(&mut live, "- 11 600\n");
        assert_eq!(
            live.get(&10).and_then(|e| e.cgroup.clone()),
            Some(PathBuf::from(format!("/sys/fs/cgroup/memory/ondol/{ID}")))
        );
        assert_eq!(live.len(), 1);
    }

    #[test]
    fn record_names_only_instance_cgroups() {
        let text = format!(
            "1 1 /etc\n2 2 /sys/fs/cgroup/ondol/../../etc\n3 3 /sys/fs/cgroup/system.slice\n\
             4 4 /sys/fs/cgroup/ondol/sshd\n5 5 /sys/fs/cgroup/ondol/{ID}\nbad line\n"
        );
        let groups = parse_record(&text);
        assert_eq!(groups.len(), 5);
        for pgid in 1..=4 {
            assert_eq!(groups[&pgid].cgroup, None, "line {pgid}");
        }
        assert_eq!(
            groups[&5].cgroup,
            Some(PathBuf::from(format!("/sys/fs/cgroup/ondol/{ID}")))
        );
    }

    #[test]
    fn record_round_trips() {
        let dir = std::env::temp_dir().join(format!("ondol-reaper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(RECORD);
        let mut live = Groups::new();
        apply(&mut live, &format!("+ 42 4242 /sys/fs/cgroup/ondol/{ID}\n"));
        apply(&mut live, "+ 43 4343 -\n");
        save(&path, &live);
        assert_eq!(parse_record(&std::fs::read_to_string(&path).unwrap()), live);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_process_with_the_id_but_another_start_time_is_not_ours() {
        let me = std::process::id();
        let start = proc_start_time(me).unwrap();
        assert!(group_is_ours(me, start));
        assert!(!group_is_ours(me, start + 1));
    }
}
