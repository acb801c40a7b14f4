//! Memory watchdog: one thread samples the RSS of every instance's process group,
//! keeps each instance's peak, and kills a group over its limit when no cgroup
//! enforces it. Off the invocation path: the REPORT line reads an atomic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::sandbox::{kill_group, Cgroup};

/// What the watchdog knows of one instance.
pub(crate) struct Watched {
    pub pgid: u32,
    pub limit_bytes: u64,
    pub peak_bytes: AtomicU64,
    pub oom_killed: AtomicBool,
    /// When set, the kernel enforces the limit and reports the peak.
    pub cgroup: Mutex<Option<Cgroup>>,
    /// Set once the process has exited.
    pub exited: AtomicBool,
}

impl Watched {
    /// Samples the group leader alone (one small read; used on a cold start so the
    /// first REPORT is not 0 before the watchdog's next tick).
    pub fn sample_leader(&self) {
        let rss = std::fs::read_to_string(format!("/proc/{}/stat", self.pgid))
            .ok()
            .and_then(|s| parse_stat(&s))
            .map_or(0, |(_, pages)| pages * page_size());
        self.peak_bytes.fetch_max(rss, Relaxed);
    }

    /// Takes over a cgroup attached after the start; removes it if the process
    /// already exited (nobody else will).
    pub fn adopt(&self, cg: Cgroup) {
        *self.cgroup.lock() = Some(cg);
        if self.exited.load(std::sync::atomic::Ordering::SeqCst) {
            drop(self.cgroup.lock().take());
        }
    }

    pub fn peak_mb(&self) -> u64 {
        self.peak_bytes.load(Relaxed).div_ceil(1024 * 1024)
    }

    pub fn was_oom_killed(&self) -> bool {
        self.oom_killed.load(Relaxed) || self.cgroup.lock().as_ref().is_some_and(Cgroup::oom_killed)
    }
}

#[derive(Default)]
pub(crate) struct MemWatch {
    entries: Mutex<HashMap<u32, Weak<Watched>>>,
}

impl MemWatch {
    pub fn start(interval: Duration) -> Arc<Self> {
        let me = Arc::new(Self::default());
        let weak = Arc::downgrade(&me);
        std::thread::Builder::new()
            .name("ondol-memwatch".into())
            .spawn(move || {
                while let Some(w) = weak.upgrade() {
                    w.tick();
                    drop(w);
                    std::thread::sleep(interval);
                }
            })
            .expect("spawn memory watchdog");
        me
    }

    pub fn watch(&self, w: &Arc<Watched>) {
        self.entries.lock().insert(w.pgid, Arc::downgrade(w));
    }

    fn tick(&self) {
        let watched: Vec<Arc<Watched>> = {
            let mut e = self.entries.lock();
            e.retain(|_, w| w.strong_count() > 0);
            e.values().filter_map(Weak::upgrade).collect()
        };
        if watched.is_empty() {
            return;
        }
        let usage = rss_by_group();
        for w in watched {
            let rss = usage.get(&w.pgid).copied().unwrap_or(0);
            let (peak, enforced) = {
                let cg = w.cgroup.lock();
                (
                    cg.as_ref().and_then(Cgroup::peak_bytes).unwrap_or(rss),
                    cg.is_some(),
                )
            };
            w.peak_bytes.fetch_max(peak.max(rss), Relaxed);
            if !enforced && rss > w.limit_bytes && !w.oom_killed.swap(true, Relaxed) {
                tracing::warn!(
                    pgid = w.pgid,
                    rss,
                    limit = w.limit_bytes,
                    "instance over its memory limit; killing it"
                );
                kill_group(w.pgid, libc::SIGKILL);
            }
        }
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// Parses `pgrp` and `rss` (pages) from /proc/<pid>/stat.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); pgrp is field 5, rss field 24.
    let pgrp = fields.get(2)?.parse().ok()?;
    let rss = fields.get(21)?.parse().ok()?;
    Some((pgrp, rss))
}

/// RSS in bytes summed per process group, over all processes.
fn rss_by_group() -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    let page = page_size();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            if let Some((pgrp, rss)) = parse_stat(&stat) {
                *out.entry(pgrp).or_insert(0) += rss * page;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let s = "123 (a b) c) S 1 456 456 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 100 1000 77 18446744073709551615";
        assert_eq!(parse_stat(s), Some((456, 77)));
    }

    #[test]
    fn measures_this_process() {
        // SAFETY: getpgrp has no preconditions.
        let pg = unsafe { libc::getpgrp() } as u32;
        assert!(rss_by_group().get(&pg).copied().unwrap_or(0) > 0);
    }
}
