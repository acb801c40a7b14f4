//! Recent activity of one version for `ondol status`: a ring of 60 per-minute
//! slots of atomics (counts and small duration histograms), rotated lazily by the
//! first writer of a new minute; no timer, no lock on the request path.

use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::{SystemTime, UNIX_EPOCH};

use ondol_core::status::Summary;

const SLOTS: usize = 60;
/// Buckets 20 % apart from 0.1 ms: bucket `i` holds durations up to `0.1 · 1.2^i` ms.
const BUCKETS: usize = 80;
/// A slot's `minute` while its first writer of a new minute clears it.
const CLEARING: u64 = u64::MAX;

#[derive(Default)]
struct Slot {
    minute: AtomicU64,
    invocations: AtomicU64,
    errors: AtomicU64,
    throttles: AtomicU64,
    cold_starts: AtomicU64,
    durations: Buckets,
    inits: Buckets,
}

struct Buckets([AtomicU64; BUCKETS]);

impl Default for Buckets {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

fn bucket_of(ms: f64) -> usize {
    if ms <= 0.1 {
        return 0;
    }
    (((ms / 0.1).ln() / 1.2f64.ln()).ceil() as usize).min(BUCKETS - 1)
}

fn upper_ms(i: usize) -> f64 {
    0.1 * 1.2f64.powi(i as i32)
}

/// How an invocation ended, as the window counts it.
pub(crate) enum Event {
    Done {
        ms: f64,
        init_ms: Option<f64>,
        failed: bool,
    },
    Throttled,
}

pub(crate) struct Window {
    slots: Box<[Slot]>,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        }
    }
}

fn now_minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

impl Window {
    pub fn record(&self, ev: Event) {
        let slot = self.current(now_minute());
        match ev {
            Event::Throttled => {
                slot.throttles.fetch_add(1, Relaxed);
            }
            Event::Done {
                ms,
                init_ms,
                failed,
            } => {
                slot.invocations.fetch_add(1, Relaxed);
                if failed {
                    slot.errors.fetch_add(1, Relaxed);
                }
                slot.durations.0[bucket_of(ms)].fetch_add(1, Relaxed);
                if let Some(init) = init_ms {
                    slot.cold_starts.fetch_add(1, Relaxed);
                    slot.inits.0[bucket_of(init)].fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// The slot of `minute`, cleared first if it still holds an older minute.
    fn current(&self, minute: u64) -> &Slot {
        let slot = &self.slots[(minute % SLOTS as u64) as usize];
        loop {
            let seen = slot.minute.load(Acquire);
            if seen == minute {
                return slot;
            }
            if seen == CLEARING {
                std::hint::spin_loop();
                continue;
            }
            if slot
                .minute
                .compare_exchange(seen, CLEARING, AcqRel, Acquire)
                .is_ok()
            {
                clear(slot);
                slot.minute.store(minute, Release);
                return slot;
            }
        }
    }

    /// The last `minutes` minutes, this one included.
    pub fn summary(&self, minutes: u64) -> Summary {
        merged(&[self], minutes)
    }
}

/// Slots added up, read into a summary at the end.
struct Acc {
    s: Summary,
    durations: [u64; BUCKETS],
    inits: [u64; BUCKETS],
}

impl Acc {
    fn new() -> Self {
        Self {
            s: Summary::default(),
            durations: [0; BUCKETS],
            inits: [0; BUCKETS],
        }
    }

    fn add(&mut self, slot: &Slot) {
        self.s.invocations += slot.invocations.load(Relaxed);
        self.s.errors += slot.errors.load(Relaxed);
        self.s.throttles += slot.throttles.load(Relaxed);
        self.s.cold_starts += slot.cold_starts.load(Relaxed);
        for i in 0..BUCKETS {
            self.durations[i] += slot.durations.0[i].load(Relaxed);
            self.inits[i] += slot.inits.0[i].load(Relaxed);
        }
    }

    fn finish(mut self) -> Summary {
        self.s.p50_ms = percentile(&self.durations, 0.50);
        self.s.p99_ms = percentile(&self.durations, 0.99);
        self.s.init_p50_ms = percentile(&self.inits, 0.50);
        self.s
    }
}

/// Each slot of `windows` holding one of the last `minutes` minutes, with how
/// many minutes ago it was (0 = this one).
fn recent<'a>(
    windows: &'a [&Window],
    minutes: u64,
    now: u64,
) -> impl Iterator<Item = (u64, &'a Slot)> + 'a {
    windows
        .iter()
        .flat_map(|w| w.slots.iter())
        .filter_map(move |slot| {
            let m = slot.minute.load(Acquire);
            (m != CLEARING && m <= now && now - m < minutes).then(|| (now - m, slot))
        })
}

/// Several windows (a function's versions) over the last `minutes` minutes.
pub(crate) fn merged(windows: &[&Window], minutes: u64) -> Summary {
    let mut acc = Acc::new();
    for (_, slot) in recent(windows, minutes, now_minute()) {
        acc.add(slot);
    }
    acc.finish()
}

/// Several windows minute by minute, oldest first, empty minutes included: each
/// minute's start (ms since the epoch) and what happened in it.
pub(crate) fn series(windows: &[&Window], minutes: u64) -> Vec<(i64, Summary)> {
    let now = now_minute();
    let minutes = minutes.clamp(1, SLOTS as u64);
    let mut accs: Vec<Acc> = (0..minutes).map(|_| Acc::new()).collect();
    for (ago, slot) in recent(windows, minutes, now) {
        accs[(minutes - 1 - ago) as usize].add(slot);
    }
    accs.into_iter()
        .enumerate()
        .map(|(i, a)| (((now + 1 - minutes + i as u64) * 60_000) as i64, a.finish()))
        .collect()
}

fn clear(slot: &Slot) {
    for c in [
        &slot.invocations,
        &slot.errors,
        &slot.throttles,
        &slot.cold_starts,
    ] {
        c.store(0, Relaxed);
    }
    for b in slot.durations.0.iter().chain(slot.inits.0.iter()) {
        b.store(0, Relaxed);
    }
}

fn percentile(counts: &[u64; BUCKETS], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some((upper_ms(i) * 100.0).round() / 100.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles_over_the_window() {
        let w = Window::default();
        for i in 0..100 {
            w.record(Event::Done {
                ms: if i < 99 { 10.0 } else { 1000.0 },
                init_ms: (i == 0).then_some(200.0),
                failed: i % 10 == 0,
            });
        }
        w.record(Event::Throttled);
        let s = w.summary(5);
        assert_eq!(
            (s.invocations, s.errors, s.throttles, s.cold_starts),
            (100, 10, 1, 1)
        );
        let p50 = s.p50_ms.unwrap();
        assert!((10.0..12.0).contains(&p50), "{p50}");
        let p99 = s.p99_ms.unwrap();
        assert!((10.0..12.0).contains(&p99), "{p99}");
        assert!((200.0..240.0).contains(&s.init_p50_ms.unwrap()));
    }

    #[test]
    fn an_old_minute_is_cleared_and_left_out() {
        let w = Window::default();
        let now = now_minute();
        w.current(now - 60).invocations.fetch_add(5, Relaxed);
        assert_eq!(w.summary(60).invocations, 0);
        w.current(now).invocations.fetch_add(1, Relaxed);
        assert_eq!(w.summary(60).invocations, 1);
        w.current(now - 3).invocations.fetch_add(2, Relaxed);
        assert_eq!(w.summary(5).invocations, 3);
        assert_eq!(w.summary(3).invocations, 1);
    }

    #[test]
    fn a_series_has_every_minute_oldest_first() {
        let w = Window::default();
        let now = now_minute();
        w.current(now - 2).invocations.fetch_add(4, Relaxed);
        w.current(now).invocations.fetch_add(1, Relaxed);
        let s = series(&[&w], 5);
        assert_eq!(s.len(), 5);
        let counts: Vec<u64> = s.iter().map(|(_, m)| m.invocations).collect();
        assert_eq!(counts, [0, 0, 4, 0, 1]);
        assert_eq!(s[4].0, (now * 60_000) as i64);
        assert_eq!(s[0].0, ((now - 4) * 60_000) as i64);
    }
}
