//! What the engine shows of itself, read-only: its identity, counters, pools and
//! usage, for the API's metrics, status and cost.

use ondol_core::Arn;

use super::{Engine, PoolStats};
use crate::jail::Jail;
use crate::metrics::Metrics;

impl Engine {
    pub fn arn(&self) -> &Arn {
        &self.inner.arn
    }

    /// The uids sandboxed functions run as, when the node sandboxes them.
    pub fn sandbox_uids(&self) -> Option<(u32, u32)> {
        self.inner.jail.as_ref().map(Jail::uids)
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.node.metrics
    }

    /// Cold starts by phase (queue wait, process start, runtime ready, handler
    /// init, duration).
    pub fn cold_start_phases(&self) -> &crate::ColdStartStats {
        &self.inner.node.cold_starts
    }

    /// Every version's counters and pool (`/metrics`, `ondol status`).
    pub fn version_snapshots(&self) -> Vec<crate::VersionSnapshot> {
        self.inner.pools.snapshots()
    }

    /// A function's versions together over the last `minutes` minutes (at most 60).
    pub fn summary(&self, name: &str, minutes: u64) -> ondol_core::status::Summary {
        self.inner.pools.summary(name, minutes)
    }

    /// A function's last invocations (at most 100 per version), newest first.
    pub fn recent(&self, name: &str, limit: usize) -> Vec<ondol_core::status::RecentInvocation> {
        self.inner.pools.recent(name, limit)
    }

    /// A function's versions together minute by minute, oldest first, with each
    /// minute's start in ms since the epoch (at most 60).
    pub fn series(&self, name: &str, minutes: u64) -> Vec<(i64, ondol_core::status::Summary)> {
        self.inner.pools.series(name, minutes)
    }

    /// Requests in flight on the node now (concurrent executions).
    pub fn concurrent(&self) -> usize {
        self.inner.node.inflight()
    }

    /// (limit, used) of the node memory budget, in MB.
    pub fn memory_budget(&self) -> (u64, u64) {
        (
            self.inner.node.budget.limit_mb(),
            self.inner.node.budget.used_mb(),
        )
    }

    /// The request payload limit of a version, or `None` if it isn't deployed.
    pub fn request_limit(&self, name: &str, version: &str) -> Option<u64> {
        self.pool(name, version).map(|p| p.limits.max_request_bytes)
    }

    /// A version's current concurrency limit.
    pub fn max_concurrency(&self, name: &str, version: &str) -> Option<u32> {
        self.pool(name, version).map(|p| p.max_concurrency())
    }

    /// Whether a deployed version is a web-mode function.
    pub fn is_web(&self, name: &str, version: &str) -> Option<bool> {
        self.pool(name, version).map(|p| p.spec.web.is_some())
    }

    /// Billable usage per version since the last call (requests and billed ms).
    pub fn drain_usage(&self) -> Vec<crate::UsageDelta> {
        self.inner.node.usage.drain()
    }

    /// (function, version, memory MB, instances kept ready by `min_warm`) now.
    pub fn kept_warm(&self) -> Vec<(String, String, u32, u32)> {
        self.inner.pools.kept_warm()
    }

    /// (function, version, `min_warm`, ready instances) of every version.
    pub fn warmth(&self) -> Vec<(String, String, u32, u32)> {
        self.inner.pools.warmth()
    }

    /// Idle/running/waiting counts per version of `name`.
    pub fn pool_stats(&self, name: &str) -> Vec<(String, PoolStats)> {
        self.inner.pools.stats(name)
    }
}
