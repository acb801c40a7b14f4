//! Where a slow init or a stuck invocation is: samples the instance through
//! `inspect` while it runs (so a connect's age counts from when it was first
//! seen), writes a report to the function's log once the init passes its
//! `slow_init` threshold (and again at 2×, 4× ...), and sums it up in one phrase
//! for a timeout's error message.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::inspect::{self, Snapshot, Waiting};
use crate::process::Process;

/// How often a slow init is sampled, to date its sockets.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// The first sample: early, so a connect begun at import is dated close to its start.
const FIRST_SAMPLE: Duration = Duration::from_millis(200);

/// Watches one instance's init (or one invocation) from `begun`.
pub(crate) struct Watch {
    begun: Instant,
    leader: u32,
    skip_leader: bool,
    /// Reports from here on; `None`: never (an invocation's watch).
    next_report: Option<Duration>,
    next_sample: Duration,
    /// When each waiting socket was first seen.
    seen: HashMap<u64, Instant>,
    last: Snapshot,
}

impl Watch {
    /// `slow`: when to write the first report; `skip_leader`: the leader is the
    /// sandbox's init, not the runtime.
    pub fn new(
        process: &Process,
        begun: Instant,
        slow: Option<Duration>,
        skip_leader: bool,
    ) -> Self {
        let first_sample = slow.map_or(FIRST_SAMPLE, |s| s.min(FIRST_SAMPLE));
        Self {
            begun,
            leader: process.pgid,
            skip_leader,
            next_report: slow,
            next_sample: first_sample,
            seen: HashMap::new(),
            last: Snapshot::default(),
        }
    }

    /// When the next sample or report is due.
    pub fn due(&self) -> Instant {
        let next = self
            .next_report
            .map_or(self.next_sample, |r| r.min(self.next_sample));
        self.begun + next
    }

    /// Samples if due, and writes a report to the log if one is due.
    pub fn tick(&mut self, process: &Process) {
        let age = self.begun.elapsed();
        if age >= self.next_sample {
            self.sample();
            self.next_sample = age + SAMPLE_EVERY;
        }
        if let Some(at) = self.next_report.filter(|at| age >= *at) {
            self.next_report = Some(at * 2);
            for line in self.report_lines(age) {
                process.capture.platform(line);
            }
        }
    }

    /// Waits until `deadline`, sampling and reporting on the way.
    pub async fn until(&mut self, process: &Process, deadline: Instant) {
        loop {
            let due = self.due().min(deadline);
            tokio::time::sleep_until(due.into()).await;
            if Instant::now() >= deadline {
                return;
            }
            self.tick(process);
        }
    }

    fn sample(&mut self) {
        let snap = inspect::snapshot(self.leader, self.skip_leader);
        let now = Instant::now();
        self.seen
            .retain(|inode, _| snap.sockets.iter().any(|s| s.inode == *inode));
        for s in &snap.sockets {
            self.seen.entry(s.inode).or_insert(now);
        }
        self.last = snap;
    }

    /// The lines of a slow-init report, from a fresh sample.
    fn report_lines(&mut self, age: Duration) -> Vec<String> {
        self.sample();
        let mut lines = vec![format!(
            "ONDOL_SLOW_INIT Init still running after {:.2} s; its processes:",
            age.as_secs_f64()
        )];
        for p in &self.last.procs {
            let mut l = format!("  pid {} {}: {}", p.pid, p.name, p.state);
            if let Some(sc) = &p.syscall {
                let _ = write!(l, " in {sc}");
            }
            if let Some(w) = &p.wchan {
                let _ = write!(l, " (kernel: {w})");
            }
            for s in self.last.sockets.iter().filter(|s| s.pid == p.pid) {
                let _ = write!(l, ", {}", self.describe(s.inode, &s.what));
            }
            lines.push(l);
        }
        lines
    }

    /// One phrase for an error: what the instance waits on, or its first
    /// process's state. Samples afresh.
    pub fn summary(&mut self) -> String {
        self.sample();
        let waits: Vec<String> = self
            .last
            .sockets
            .iter()
            .map(|s| self.describe(s.inode, &s.what))
            .collect();
        if !waits.is_empty() {
            return waits.join(", ");
        }
        let Some(p) = self.last.procs.first() else {
            return "its processes are gone".into();
        };
        match &p.syscall {
            Some(sc) => format!("{} {} in {sc}", p.name, p.state),
            None => format!("{} {}", p.name, p.state),
        }
    }

    fn describe(&self, inode: u64, what: &Waiting) -> String {
        let age = self
            .seen
            .get(&inode)
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        // Seen only now (an invocation's one look): no age to tell.
        let since = if age >= 0.05 {
            format!(" for {age:.1} s")
        } else {
            String::new()
        };
        match what {
            Waiting::Connecting(to) => format!("connecting to {to}{since}"),
            Waiting::Dns(to) => format!("looking up a name (DNS to {to}){since}"),
        }
    }
}
