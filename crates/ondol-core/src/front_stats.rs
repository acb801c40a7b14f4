//! The front door's counters: requests by route and status, and their latency.
//! The gateway hands each route its counters when it builds its route table, so a
//! request costs atomic adds only; the metrics endpoint reads them all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::stats::{Seconds, Snapshot};

/// The route label of requests that matched no route.
pub const UNROUTED: &str = "-";

/// One route's requests: a counter per status code (100–599) and a latency histogram.
#[derive(Debug)]
pub struct RouteStats {
    statuses: Box<[AtomicU64]>,
    latency: Seconds,
}

impl Default for RouteStats {
    fn default() -> Self {
        Self {
            statuses: (100..600).map(|_| AtomicU64::new(0)).collect(),
            latency: Seconds::durations(),
        }
    }
}

impl RouteStats {
    pub fn count(&self, status: u16, seconds: f64) {
        let i = usize::from(status.clamp(100, 599) - 100);
        self.statuses[i].fetch_add(1, Relaxed);
        self.latency.observe(seconds);
    }

    /// (status, count) for every status seen, and the latency histogram.
    pub fn snapshot(&self) -> (Vec<(u16, u64)>, Snapshot) {
        let statuses = self
            .statuses
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let n = c.load(Relaxed);
                (n > 0).then_some((i as u16 + 100, n))
            })
            .collect();
        (statuses, self.latency.snapshot())
    }
}

/// One route read at one moment: its key, (status, count) pairs, its latency.
pub type RouteSnapshot = (String, Vec<(u16, u64)>, Snapshot);

/// Every route's counters by route key (`GET /items/{id}`, `$default`), kept across
/// route table rebuilds so a redeploy does not reset them.
#[derive(Debug, Default)]
pub struct FrontDoorStats {
    routes: Mutex<HashMap<String, Arc<RouteStats>>>,
}

impl FrontDoorStats {
    /// The counters of `route`, made on first use (at table build, not per request).
    pub fn route(&self, route: &str) -> Arc<RouteStats> {
        let mut all = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(route.to_string()).or_default().clone()
    }

    /// Each route with requests, sorted by route.
    pub fn snapshot(&self) -> Vec<RouteSnapshot> {
        let all: Vec<_> = {
            let m = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let mut out: Vec<_> = all
            .into_iter()
            .map(|(k, v)| {
                let (s, l) = v.snapshot();
                (k, s, l)
            })
            .filter(|(_, s, _)| !s.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
