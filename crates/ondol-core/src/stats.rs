//! Lock-free histograms with fixed bucket bounds, bumped from request paths with
//! atomic adds only and read at scrape time (as Prometheus `le` buckets).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Bounds, in seconds, for request and invocation durations.
pub const DURATION_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0,
];

/// Bounds, in seconds, for inits (slower and coarser than invocations).
pub const INIT_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A histogram of seconds: one count per bound plus `+Inf`, and the sum in
/// microseconds.
#[derive(Debug)]
pub struct Seconds {
    bounds: &'static [f64],
    counts: Box<[AtomicU64]>,
    sum_us: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub sum_seconds: f64,
    pub count: u64,
    /// (upper bound, count of this bucket alone), the last bound `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

impl Seconds {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }

    pub fn durations() -> Self {
        Self::new(DURATION_BOUNDS)
    }

    pub fn inits() -> Self {
        Self::new(INIT_BOUNDS)
    }

    /// Counts one observation: two atomic adds.
    pub fn observe(&self, seconds: f64) {
        let i = self.bounds.partition_point(|b| *b < seconds);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_us
            .fetch_add((seconds.max(0.0) * 1e6) as u64, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut total = 0;
        let buckets = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = c.load(Relaxed);
                total += n;
                (self.bounds.get(i).copied().unwrap_or(f64::INFINITY), n)
            })
            .collect();
        Snapshot {
            sum_seconds: self.sum_us.load(Relaxed) as f64 / 1e6,
            count: total,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds_are_inclusive() {
        let h = Seconds::durations();
        for s in [0.001, 0.0011, 0.3, 1e6] {
            h.observe(s);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets[0], (0.001, 1));
        assert_eq!(s.buckets[1], (0.0025, 1));
        assert_eq!(s.buckets.last().unwrap(), &(f64::INFINITY, 1));
        assert_eq!(s.buckets.iter().find(|b| b.0 == 0.5).unwrap().1, 1);
        assert!((s.sum_seconds - (1e6 + 0.3021)).abs() < 1e-3);
    }
}
