//! A version's last invocations (request id, end, duration, init, outcome) for the
//! console: a ring of `KEPT` behind a lock held for one push, no allocation but
//! the ring's own.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ondol_core::status::RecentInvocation;
use parking_lot::Mutex;

use crate::metrics::Outcome;

/// Invocations kept per version.
pub(crate) const KEPT: usize = 100;

struct Entry {
    request_id: Arc<str>,
    ts_ms: i64,
    duration_ms: f64,
    init_ms: Option<f64>,
    outcome: Outcome,
}

pub(crate) struct Recent(Mutex<VecDeque<Entry>>);

impl Default for Recent {
    fn default() -> Self {
        Self(Mutex::new(VecDeque::with_capacity(KEPT)))
    }
}

impl Recent {
    pub fn record(
        &self,
        request_id: Arc<str>,
        duration_ms: f64,
        init_ms: Option<f64>,
        outcome: Outcome,
    ) {
        let ts_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let e = Entry {
            request_id,
            ts_ms,
            duration_ms,
            init_ms,
            outcome,
        };
        let mut ring = self.0.lock();
        if ring.len() == KEPT {
            ring.pop_front();
        }
        ring.push_back(e);
    }

    /// The kept invocations of `version`, oldest first.
    pub fn list(&self, version: &str) -> Vec<RecentInvocation> {
        self.0
            .lock()
            .iter()
            .map(|e| RecentInvocation {
                request_id: e.request_id.to_string(),
                version: version.to_string(),
                ts_ms: e.ts_ms,
                duration_ms: (e.duration_ms * 100.0).round() / 100.0,
                init_ms: e.init_ms.map(|ms| (ms * 100.0).round() / 100.0),
                outcome: e.outcome.as_str().to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_ones() {
        let r = Recent::default();
        for i in 0..KEPT + 5 {
            r.record(Arc::from(format!("r{i}")), 1.234, None, Outcome::Success);
        }
        let l = r.list("3");
        assert_eq!(l.len(), KEPT);
        assert_eq!(l[0].request_id, "r5");
        assert_eq!(l.last().unwrap().request_id, format!("r{}", KEPT + 4));
        assert_eq!((l[0].duration_ms, l[0].version.as_str()), (1.23, "3"));
    }
}
