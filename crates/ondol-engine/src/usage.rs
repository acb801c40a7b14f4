//! Billable usage, counted on the invocation path with a few atomic adds per
//! request: each pool holds its version's cell, resolved once when the pool is
//! made; a flusher outside the engine drains every cell every few seconds. The
//! invocations that ran within `min_warm` (provisioned concurrency) are told
//! apart by a pool's [`ProvisionedSlots`], as AWS bills them at a lower rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

/// One version's counters since the last drain.
#[derive(Default)]
pub(crate) struct UsageCell {
    requests: AtomicU64,
    billed_ms: AtomicU64,
    /// Of `billed_ms`, what ran within `min_warm`.
    provisioned_ms: AtomicU64,
    /// Requests that came through a front-door route.
    front_door: AtomicU64,
}

impl UsageCell {
    /// One request, billed as its REPORT line says; `provisioned`: it held one
    /// of the pool's provisioned slots.
    pub fn bill(&self, billed_ms: u64, provisioned: bool) {
        self.requests.fetch_add(1, Relaxed);
        self.billed_ms.fetch_add(billed_ms, Relaxed);
        if provisioned {
            self.provisioned_ms.fetch_add(billed_ms, Relaxed);
        }
    }

    /// One request through a front-door route (API Gateway's part of the bill).
    pub fn front_door(&self) {
        self.front_door.fetch_add(1, Relaxed);
    }
}

/// What a drain hands out for one version.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDelta {
    pub function: String,
    pub version: String,
    pub memory_mb: u32,
    pub requests: u64,
    pub billed_ms: u64,
    /// Of `billed_ms`, what ran within `min_warm` (provisioned concurrency).
    pub provisioned_billed_ms: u64,
    pub http_requests: u64,
}

type Key = (Arc<str>, Arc<str>, u32);

/// Every version's cell, by (function, version, memory).
#[derive(Default)]
pub(crate) struct UsageMeter {
    cells: Mutex<HashMap<Key, Arc<UsageCell>>>,
}

impl UsageMeter {
    /// The cell of a version (shared by its pools across redeploys).
    pub fn cell(&self, function: &Arc<str>, version: &Arc<str>, memory_mb: u32) -> Arc<UsageCell> {
        let key = (function.clone(), version.clone(), memory_mb);
        self.cells.lock().entry(key).or_default().clone()
    }

    /// Takes every non-zero counter, leaving zero behind; cells no pool holds and
    /// with nothing counted are dropped.
    pub fn drain(&self) -> Vec<UsageDelta> {
        let mut cells = self.cells.lock();
        let mut out = Vec::new();
        cells.retain(|(f, v, mb), cell| {
            let requests = cell.requests.swap(0, Relaxed);
            let billed_ms = cell.billed_ms.swap(0, Relaxed);
            let provisioned_billed_ms = cell.provisioned_ms.swap(0, Relaxed);
            let http_requests = cell.front_door.swap(0, Relaxed);
            if requests > 0 || billed_ms > 0 || http_requests > 0 {
                out.push(UsageDelta {
                    function: f.to_string(),
                    version: v.to_string(),
                    memory_mb: *mb,
                    requests,
                    billed_ms,
                    provisioned_billed_ms,
                    http_requests,
                });
            }
            Arc::strong_count(cell) > 1
        });
        out
    }
}

/// A pool's provisioned concurrency as requests hold it: at most `min_warm`
/// invocations at once run "provisioned"; the rest spill over to on-demand, as
/// on AWS. Atomics only: taken after checkout, given back when settled.
#[derive(Default)]
pub(crate) struct ProvisionedSlots {
    limit: AtomicU32,
    busy: AtomicU32,
}

impl ProvisionedSlots {
    pub fn new(min_warm: u32) -> Self {
        Self {
            limit: AtomicU32::new(min_warm),
            busy: AtomicU32::new(0),
        }
    }

    /// `min_warm` changed in place (a lowered limit lets held slots run out).
    pub fn set_limit(&self, min_warm: u32) {
        self.limit.store(min_warm, Relaxed);
    }

    /// One slot if one is free.
    pub fn try_take(&self) -> bool {
        let limit = self.limit.load(Relaxed);
        self.busy
            .fetch_update(Relaxed, Relaxed, |b| (b < limit).then_some(b + 1))
            .is_ok()
    }

    /// Gives back a slot [`try_take`](Self::try_take) handed out.
    pub fn give_back(&self) {
        self.busy.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_once() {
        let m = UsageMeter::default();
        let c = m.cell(&"f".into(), &"1".into(), 512);
        c.bill(101, true);
        c.bill(3, false);
        let d = m.drain();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].requests, d[0].billed_ms, d[0].memory_mb),
            (2, 104, 512)
        );
        assert_eq!(d[0].provisioned_billed_ms, 101);
        assert!(m.drain().is_empty());
        drop(c);
        assert!(m.drain().is_empty());
        assert!(m.cells.lock().is_empty());
    }

    #[test]
    fn at_most_min_warm_run_provisioned() {
        let p = ProvisionedSlots::new(2);
        assert!(p.try_take() && p.try_take());
        assert!(!p.try_take(), "the third spills to on-demand");
        p.give_back();
        assert!(p.try_take());
        p.set_limit(0);
        p.give_back();
        assert!(!p.try_take());
        assert!(!ProvisionedSlots::default().try_take());
    }
}
