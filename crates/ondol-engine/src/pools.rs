//! The deployed pools by function and version, and the scaler that runs beside
//! them: idle instances beyond `min_warm` stop after `idle_timeout`, and `min_warm`
//! is topped up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use ondol_core::status::{RecentInvocation, Summary};

use crate::metrics::{PoolView, VersionSnapshot};
use crate::node::{Node, STOP_GRACE};
use crate::pool::Pool;
use crate::window::{self, Window};

#[derive(Default)]
pub(crate) struct Pools(RwLock<HashMap<String, HashMap<String, Arc<Pool>>>>);

impl Pools {
    pub fn get(&self, name: &str, version: &str) -> Option<Arc<Pool>> {
        self.0.read().get(name)?.get(version).cloned()
    }

    /// Installs a version's pool; the one it replaced, if any.
    pub fn insert(&self, name: &str, version: &str, pool: Arc<Pool>) -> Option<Arc<Pool>> {
        let mut all = self.0.write();
        all.entry(name.to_string())
            .or_default()
            .insert(version.to_string(), pool)
    }

    /// Takes out one version's pool, or every version of the function.
    pub fn remove(&self, name: &str, version: Option<&str>) -> Vec<Arc<Pool>> {
        let mut all = self.0.write();
        let Some(version) = version else {
            return all
                .remove(name)
                .map(|m| m.into_values().collect())
                .unwrap_or_default();
        };
        let p = all.get_mut(name).and_then(|m| m.remove(version));
        if all.get(name).is_some_and(HashMap::is_empty) {
            all.remove(name);
        }
        p.into_iter().collect()
    }

    /// Takes out every pool.
    pub fn drain(&self) -> Vec<Arc<Pool>> {
        let mut all = self.0.write();
        all.drain().flat_map(|(_, m)| m.into_values()).collect()
    }

    fn all(&self) -> Vec<Arc<Pool>> {
        let all = self.0.read();
        all.values().flat_map(|m| m.values().cloned()).collect()
    }

    /// (function, version, memory MB, instances kept by `min_warm`), where any are.
    pub fn kept_warm(&self) -> Vec<(String, String, u32, u32)> {
        let all = self.0.read();
        let mut out = Vec::new();
        for (name, versions) in all.iter() {
            for (v, p) in versions {
                let n = p.kept_warm();
                if n > 0 {
                    out.push((name.clone(), v.clone(), p.spec.memory_mb, n));
                }
            }
        }
        out
    }

    /// (function, version, `min_warm`, ready instances) of every version.
    pub fn warmth(&self) -> Vec<(String, String, u32, u32)> {
        let all = self.0.read();
        let mut out = Vec::new();
        for (name, versions) in all.iter() {
            for (v, p) in versions {
                let (floor, ready) = p.warmth();
                out.push((name.clone(), v.clone(), floor, ready));
            }
        }
        out
    }

    /// Each version of `name` with its pool's view, by version.
    pub fn stats(&self, name: &str) -> Vec<(String, PoolView)> {
        let all = self.0.read();
        let mut out: Vec<_> = all
            .get(name)
            .map(|m| m.iter().map(|(v, p)| (v.clone(), p.view())).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl Pools {
    /// Every version's counters and pool view, by function then version.
    pub fn snapshots(&self) -> Vec<VersionSnapshot> {
        let all = self.0.read();
        let mut out: Vec<_> = all
            .iter()
            .flat_map(|(f, m)| m.iter().map(move |(v, p)| p.snapshot(f, v)))
            .collect();
        out.sort_by(|a, b| (&a.function, &a.version).cmp(&(&b.function, &b.version)));
        out
    }

    /// A function's versions together over the last `minutes` minutes.
    pub fn summary(&self, name: &str, minutes: u64) -> Summary {
        self.with_windows(name, |w| window::merged(w, minutes))
    }

    /// A function's versions together, minute by minute (oldest first).
    pub fn series(&self, name: &str, minutes: u64) -> Vec<(i64, Summary)> {
        self.with_windows(name, |w| window::series(w, minutes))
    }

    /// A function's last invocations over all its versions, newest first.
    pub fn recent(&self, name: &str, limit: usize) -> Vec<RecentInvocation> {
        let all = self.0.read();
        let mut out: Vec<RecentInvocation> = all
            .get(name)
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|p| p.recent())
            .collect();
        out.sort_by_key(|i| std::cmp::Reverse(i.ts_ms));
        out.truncate(limit);
        out
    }

    fn with_windows<R>(&self, name: &str, f: impl FnOnce(&[&Window]) -> R) -> R {
        let all = self.0.read();
        let windows: Vec<&Window> = all
            .get(name)
            .into_iter()
            .flat_map(|m| m.values())
            .map(|p| p.window())
            .collect();
        f(&windows)
    }
}

/// Scales idle pools to zero (beyond `min_warm`) and tops `min_warm` up, until the
/// pools are gone or `stop` is set.
pub(crate) async fn scale(pools: Weak<Pools>, node: Arc<Node>, stop: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(pools) = pools.upgrade() else { return };
        if stop.load(SeqCst) {
            return;
        }
        let now = Instant::now();
        let mut freed = false;
        for p in pools.all() {
            for inst in p.reap(now) {
                freed = true;
                tracing::info!(function = %p.spec.function, instance = %inst.id, "idle instance stopped (idle_timeout)");
                tokio::spawn(async move { inst.stop(STOP_GRACE).await });
            }
            for _ in 0..p.warm_deficit(now) {
                let p = p.clone();
                tokio::spawn(async move { p.start_warm().await });
            }
        }
        if freed {
            node.memory_freed();
        }
    }
}
