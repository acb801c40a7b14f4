//! The node's capacity, shared by every pool and below them all: the memory budget,
//! the counters, the registry of live instances (stopped on shutdown), the count of
//! requests in flight (the drain waits for it), and the index of pools that can
//! give memory back (idle eviction) or are waiting for it. Pools use this and never
//! reach past it; the node knows pools only as [`Tenant`]s.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::budget::Budget;
use crate::instance::Instance;
use crate::metrics::{inc, Metrics};
use crate::phases::ColdStartStats;
use crate::usage::UsageMeter;

/// How long a stopped instance gets between SIGTERM and SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(2);

/// What the node asks of a pool when memory is short or has been freed.
pub(crate) trait Tenant: Send + Sync {
    /// Takes its least recently used unused idle instance, counted out of the pool.
    fn evict_one(&self) -> Option<Arc<Instance>>;
    /// Whether requests are waiting for capacity.
    fn has_waiters(&self) -> bool;
    /// Memory was freed elsewhere: hand it to waiters as cold-start slots.
    fn memory_freed(&self);
}

pub(crate) struct Node {
    pub budget: Budget,
    pub metrics: Metrics,
    pub usage: UsageMeter,
    /// Cold starts by phase.
    pub cold_starts: ColdStartStats,
    instances: Mutex<Vec<Weak<Instance>>>,
    tenants: Mutex<Vec<Weak<dyn Tenant>>>,
    inflight: AtomicUsize,
}

/// One request in flight, counted until dropped.
pub(crate) struct Inflight(Arc<Node>);

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, SeqCst);
    }
}

impl Node {
    pub fn new(budget_mb: u64) -> Arc<Self> {
        Arc::new(Self {
            budget: Budget::new(budget_mb),
            metrics: Metrics::default(),
            usage: UsageMeter::default(),
            cold_starts: ColdStartStats::default(),
            instances: Mutex::new(Vec::new()),
            tenants: Mutex::new(Vec::new()),
            inflight: AtomicUsize::new(0),
        })
    }

    /// Counts a request in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> Inflight {
        self.inflight.fetch_add(1, SeqCst);
        Inflight(self.clone())
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(SeqCst)
    }

    /// Adds a pool to the eviction index (dropped pools fall out by themselves).
    pub fn admit(&self, tenant: Weak<dyn Tenant>) {
        let mut all = self.tenants.lock();
        all.retain(|t| t.strong_count() > 0);
        all.push(tenant);
    }

    fn tenants(&self) -> Vec<Arc<dyn Tenant>> {
        self.tenants
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Notes a started instance, to be stopped at shutdown.
    pub fn register(&self, inst: &Arc<Instance>) {
        let mut all = self.instances.lock();
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(inst));
    }

    /// Every instance still alive (emptying the registry).
    pub fn take_instances(&self) -> Vec<Arc<Instance>> {
        self.instances
            .lock()
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect()
    }

    /// Stops an instance in the background; its memory is already released.
    pub fn stop_later(self: &Arc<Self>, inst: Arc<Instance>) {
        let me = self.clone();
        tokio::spawn(async move {
            inst.stop(STOP_GRACE).await;
            me.memory_freed();
        });
    }

    /// Evicts idle instances of pools other than `except` until `mb` fits.
    pub fn evict_idle(&self, mb: u64, except: &dyn Tenant) -> bool {
        let mut evicted = false;
        for t in self.tenants() {
            if std::ptr::addr_eq(Arc::as_ptr(&t), except as *const dyn Tenant) {
                continue;
            }
            while self.budget.limit_mb() < self.budget.used_mb() + mb {
                let Some(inst) = t.evict_one() else { break };
                inc(&self.metrics.evictions);
                tracing::info!(instance = %inst.id, "evicting an idle instance to free node memory");
                inst.kill();
                evicted = true;
            }
        }
        evicted
    }

    /// Lets pools waiting on node memory try again.
    pub fn memory_freed(&self) {
        for t in self.tenants() {
            if t.has_waiters() {
                t.memory_freed();
            }
        }
    }
}
