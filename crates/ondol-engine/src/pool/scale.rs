//! A pool's life beside requests: idle eviction and reaping, `min_warm` starts,
//! limits changed in place, draining and retirement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ondol_core::FunctionError;

use super::{Grant, Pool};
use crate::instance::Instance;

impl Pool {
    /// Called when node memory was freed elsewhere.
    pub fn on_memory_freed(&self) {
        let mut st = self.state.lock();
        self.grant_spawns(&mut st);
    }

    /// Takes the least recently used unused idle instance for eviction.
    pub fn take_oldest_idle(&self) -> Option<Arc<Instance>> {
        let mut st = self.state.lock();
        let pos = st.idle.iter().position(|i| i.in_use() == 0)?;
        let inst = st.idle.remove(pos);
        self.forget(&mut st, &inst);
        Some(inst)
    }

    /// Stops unused idle instances beyond `min_warm` idle longer than
    /// `idle_timeout`, and removes idle instances that died.
    pub fn reap(&self, now: Instant) -> Vec<Arc<Instance>> {
        let mut st = self.state.lock();
        let timeout = Duration::from_millis(self.limits.idle_timeout_ms);
        let mut out = Vec::new();
        let idle = std::mem::take(&mut st.idle);
        let mut keep = Vec::with_capacity(idle.len());
        let mut removable = st.running.saturating_sub(st.min_warm);
        // Oldest first: the front of the stack is the least recently used.
        for inst in idle {
            let dead = !inst.is_alive();
            let expired =
                inst.in_use() == 0 && now.duration_since(*inst.last_used.lock()) >= timeout;
            if dead || (expired && removable > 0) {
                removable = removable.saturating_sub(1);
                self.forget(&mut st, &inst);
                out.push(inst);
            } else {
                keep.push(inst);
            }
        }
        st.idle = keep;
        out
    }

    /// (`min_warm`, ready instances): what a successor warms before taking over.
    pub fn warmth(&self) -> (u32, u32) {
        let st = self.state.lock();
        (st.min_warm, st.running.saturating_sub(st.starting))
    }

    /// Ready instances `min_warm` keeps (what provisioned concurrency bills).
    pub fn kept_warm(&self) -> u32 {
        let st = self.state.lock();
        st.min_warm.min(st.running.saturating_sub(st.starting))
    }

    pub fn max_concurrency(&self) -> u32 {
        self.state.lock().max_concurrency
    }

    /// Changes the concurrency limit and warm floor in place. Unused idle
    /// instances over a lowered limit are returned for stopping (busy ones stop
    /// when they finish), so the limit holds at once: 0 leaves nothing warm.
    pub fn set_limits(&self, max_concurrency: u32, min_warm: u32) -> Vec<Arc<Instance>> {
        let mut st = self.state.lock();
        st.max_concurrency = max_concurrency;
        st.min_warm = min_warm.min(max_concurrency);
        self.provisioned.set_limit(st.min_warm);
        let mut out = Vec::new();
        while st.running > st.max_concurrency {
            let Some(pos) = st.idle.iter().position(|i| i.in_use() == 0) else {
                break;
            };
            let inst = st.idle.remove(pos);
            if self.forget(&mut st, &inst) {
                out.push(inst);
            }
        }
        self.grant_spawns(&mut st);
        out
    }

    /// How many provisioned instances to start now to reach `min_warm`.
    pub fn warm_deficit(&self, now: Instant) -> u32 {
        let st = self.state.lock();
        if st.retired || st.retry_at.is_some_and(|t| now < t) {
            return 0;
        }
        // `running` already counts the instances still starting.
        st.min_warm.saturating_sub(st.running)
    }

    /// Starts one provisioned instance into the idle stack.
    pub async fn start_warm(self: &Arc<Self>) {
        {
            let mut st = self.state.lock();
            if st.running >= st.max_concurrency || !self.node.budget.try_reserve(self.mem_mb()) {
                return;
            }
            st.running += 1;
        }
        let res = self.cold_start(true).await;
        if let Ok(inst) = res {
            self.release(inst);
        }
    }

    /// Starts one provisioned instance and waits for its init; at the concurrency
    /// limit there is nothing to start.
    pub async fn warm_one(self: &Arc<Self>) -> Result<(), FunctionError> {
        {
            let mut st = self.state.lock();
            if st.running >= st.max_concurrency || !self.node.budget.try_reserve(self.mem_mb()) {
                return Ok(());
            }
            st.running += 1;
        }
        let inst = self.cold_start(true).await?;
        self.release(inst);
        Ok(())
    }

    /// Stops every unused idle instance now and keeps none warm (traffic moved on).
    pub fn drain_idle(&self) -> Vec<Arc<Instance>> {
        let mut st = self.state.lock();
        st.min_warm = 0;
        self.provisioned.set_limit(0);
        let idle = std::mem::take(&mut st.idle);
        let mut out = Vec::new();
        for inst in idle {
            if inst.in_use() == 0 && self.forget(&mut st, &inst) {
                out.push(inst);
            } else if inst.in_use() > 0 {
                st.idle.push(inst);
            }
        }
        out
    }

    /// Marks the pool replaced: unused idle instances are returned for stopping,
    /// busy ones stop when they finish, waiters look the function up again.
    pub fn retire(&self) -> Vec<Arc<Instance>> {
        let mut st = self.state.lock();
        st.retired = true;
        for w in st.waiters.drain(..) {
            let _ = w.send(Grant::Retired);
        }
        let idle = std::mem::take(&mut st.idle);
        idle.into_iter()
            .filter(|i| i.in_use() == 0 && self.forget(&mut st, i))
            .collect()
    }
}
