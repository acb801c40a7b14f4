//! A warm pool: the instances of one function version. Warm reuse is most recently
//! used first; a cold start reserves a slot under `max_concurrency` and the node
//! memory budget; at a limit requests wait in a bounded FIFO, then are throttled.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ondol_core::{FunctionError, InvokeError, Limits};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::checkout::{Checkout, Lender, Settled};
use crate::front::Death;
use crate::instance::Instance;
use crate::metrics::{inc, Outcome, PoolView, ThrottleReason, VersionCounters, VersionSnapshot};
use crate::node::{Node, Tenant};
use crate::spec::StartSpec;
use crate::throttle;
use crate::usage::{ProvisionedSlots, UsageCell};

mod scale;

/// What a request gets from its pool.
pub(crate) enum Lease {
    Out(Checkout),
    /// The pool was replaced; look the function up again.
    Retired,
    /// No instance would start (counted): the init error, or a crash loop's.
    Failed(FunctionError),
}

/// What a waiting request is handed.
pub(crate) enum Grant {
    Warm(Arc<Instance>),
    /// A slot (concurrency and memory) reserved for a cold start.
    Spawn,
    /// The pool was replaced; look the function up again.
    Retired,
    /// A crash loop is backing off: the last failure, said so.
    BackingOff(FunctionError),
}

struct State {
    /// Changeable in place (reserved and provisioned concurrency).
    max_concurrency: u32,
    min_warm: u32,
    idle: Vec<Arc<Instance>>,
    /// Instances alive or starting; bounded by `max_concurrency`.
    running: u32,
    /// Of `running`, those still starting.
    starting: u32,
    waiters: VecDeque<oneshot::Sender<Grant>>,
    retired: bool,
    failures: u32,
    retry_at: Option<Instant>,
    last_failure: Option<FunctionError>,
}

pub(crate) struct Pool {
    pub spec: StartSpec,
    pub limits: Limits,
    counters: VersionCounters,
    recent: crate::recent::Recent,
    pub(crate) usage: Arc<UsageCell>,
    /// `min_warm` as requests hold it (what runs at the provisioned rate).
    provisioned: ProvisionedSlots,
    pub(crate) node: Arc<Node>,
    state: Mutex<State>,
}

/// Why a cold start could not be had right now.
enum Blocked {
    /// At `max_concurrency` (its value then).
    Concurrency(u32),
    Memory,
}

impl Pool {
    pub fn new(spec: StartSpec, limits: Limits, node: Arc<Node>) -> Arc<Self> {
        let usage = node
            .usage
            .cell(&spec.function, &spec.version, spec.memory_mb);
        let pool = Arc::new(Self {
            spec,
            counters: VersionCounters::default(),
            recent: Default::default(),
            usage,
            provisioned: ProvisionedSlots::new(limits.min_warm),
            limits: limits.clone(),
            node,
            state: Mutex::new(State {
                max_concurrency: limits.max_concurrency,
                min_warm: limits.min_warm,
                idle: Vec::new(),
                running: 0,
                starting: 0,
                waiters: VecDeque::new(),
                retired: false,
                failures: 0,
                retry_at: None,
                last_failure: None,
            }),
        });
        let tenant: Arc<dyn Tenant> = pool.clone();
        pool.node.admit(Arc::downgrade(&tenant));
        pool
    }

    pub fn view(&self) -> PoolView {
        let st = self.state.lock();
        PoolView {
            idle: st.idle.len() as u32,
            running: st.running,
            ready: st.running.saturating_sub(st.starting),
            starting: st.starting,
            invocations: self.counters.invocations(),
            errors: self.counters.errors(),
            durations: self.counters.durations.snapshot(),
            waiting: st.waiters.iter().filter(|w| !w.is_closed()).count() as u32,
        }
    }

    pub fn snapshot(&self, function: &str, version: &str) -> VersionSnapshot {
        self.counters.snapshot(function, version, self.view())
    }

    /// The last invocations, oldest first.
    pub fn recent(&self) -> Vec<ondol_core::status::RecentInvocation> {
        self.recent.list(&self.spec.version)
    }

    pub fn window(&self) -> &crate::window::Window {
        &self.counters.window
    }

    fn mem_mb(&self) -> u64 {
        u64::from(self.spec.memory_mb)
    }

    /// Checks an instance out for one request (`report`: a Lambda runtime's, with
    /// END/REPORT). Waits for capacity, or throttles; a failed start is counted.
    pub async fn checkout(
        self: &Arc<Self>,
        request_id: Arc<str>,
        report: bool,
    ) -> Result<Lease, InvokeError> {
        let asked = Instant::now();
        let grant = self.acquire().await?;
        let queue_wait_ms = asked.elapsed().as_secs_f64() * 1000.0;
        let (inst, cold) = match grant {
            Grant::Retired => return Ok(Lease::Retired),
            Grant::BackingOff(e) => {
                self.counters.count_failure();
                return Ok(Lease::Failed(e));
            }
            Grant::Warm(i) => (i, false),
            Grant::Spawn => match self.cold_start(false).await {
                Ok(i) => {
                    self.share(&i);
                    (i, true)
                }
                Err(e) => {
                    self.counters.count_failure();
                    return Ok(Lease::Failed(e));
                }
            },
        };
        inc(&self.node.metrics.invocations);
        let memory_mb = report.then_some(self.spec.memory_mb);
        let lender: Arc<dyn Lender> = self.clone();
        let inflight = self.node.begin();
        let mut checkout = Checkout::new(lender, inst, request_id, cold, memory_mb, inflight);
        checkout.queue_wait_ms = queue_wait_ms;
        // A cold start ran on an instance of its own, on demand; a warm one runs
        // provisioned while fewer than `min_warm` do.
        checkout.provisioned = !cold && self.provisioned.try_take();
        Ok(Lease::Out(checkout))
    }

    async fn acquire(self: &Arc<Self>) -> Result<Grant, InvokeError> {
        let mut evicted_once = false;
        loop {
            let blocked = 'pick: {
                let mut st = self.state.lock();
                if st.retired {
                    return Ok(Grant::Retired);
                }
                // Reserved concurrency 0 is Lambda's kill switch: warm instances
                // serve nothing either.
                if st.max_concurrency == 0 {
                    break 'pick Blocked::Concurrency(0);
                }
                // Most recently used first; an instance that died while idle is
                // dropped, not handed out.
                while let Some(inst) = st.idle.last().cloned() {
                    if !inst.is_alive() {
                        st.idle.pop();
                        self.forget(&mut st, &inst);
                        continue;
                    }
                    if inst.take_slot() {
                        st.idle.pop();
                    }
                    return Ok(Grant::Warm(inst));
                }
                if let Some(err) = self.backing_off(&st) {
                    return Ok(Grant::BackingOff(err));
                }
                if st.running >= st.max_concurrency {
                    Blocked::Concurrency(st.max_concurrency)
                } else if self.node.budget.try_reserve(self.mem_mb()) {
                    st.running += 1;
                    return Ok(Grant::Spawn);
                } else {
                    Blocked::Memory
                }
            };
            if matches!(blocked, Blocked::Memory) && !evicted_once {
                evicted_once = true;
                if self.node.evict_idle(self.mem_mb(), self.as_ref()) {
                    continue;
                }
            }
            return self.wait(blocked).await;
        }
    }

    /// During a crash loop's backoff, new starts fail fast with the last error.
    fn backing_off(&self, st: &State) -> Option<FunctionError> {
        let left = st.retry_at?.checked_duration_since(Instant::now())?;
        Some(throttle::backing_off(
            st.last_failure.clone(),
            st.failures,
            left,
        ))
    }

    async fn wait(&self, blocked: Blocked) -> Result<Grant, InvokeError> {
        let rx = {
            let mut st = self.state.lock();
            st.waiters.retain(|w| !w.is_closed());
            if st.max_concurrency == 0 {
                inc(&self.node.metrics.throttled_concurrency);
                self.counters.count_throttle(ThrottleReason::MaxConcurrency);
                return Err(throttle::disabled(&self.spec.function));
            }
            if st.waiters.len() >= self.limits.queue_depth as usize {
                inc(&self.node.metrics.throttled_queue_full);
                self.counters.count_throttle(ThrottleReason::QueueFull);
                return Err(self.throttle(&blocked, true));
            }
            let (tx, rx) = oneshot::channel();
            st.waiters.push_back(tx);
            rx
        };
        let since = Instant::now();
        match tokio::time::timeout(Duration::from_millis(self.limits.queue_wait_ms), rx).await {
            Ok(Ok(grant)) => {
                let waited = since.elapsed().as_secs_f64();
                self.counters.queue_wait_seconds.observe(waited);
                Ok(grant)
            }
            _ => {
                let (node, reason) = match blocked {
                    Blocked::Concurrency(_) => (
                        &self.node.metrics.throttled_concurrency,
                        ThrottleReason::MaxConcurrency,
                    ),
                    Blocked::Memory => (
                        &self.node.metrics.throttled_memory,
                        ThrottleReason::MemoryBudget,
                    ),
                };
                inc(node);
                self.counters.count_throttle(reason);
                Err(self.throttle(&blocked, false))
            }
        }
    }

    fn throttle(&self, blocked: &Blocked, queue_full: bool) -> InvokeError {
        let queue = throttle::queue(&self.limits, queue_full);
        match blocked {
            Blocked::Concurrency(max) => throttle::concurrency(&self.spec.function, *max, &queue),
            Blocked::Memory => throttle::memory(&queue),
        }
    }

    /// Starts an instance in a reserved slot; on failure the slot is given back.
    async fn cold_start(
        self: &Arc<Self>,
        provisioned: bool,
    ) -> Result<Arc<Instance>, FunctionError> {
        inc(&self.node.metrics.cold_starts);
        self.state.lock().starting += 1;
        let started = Instance::start(&self.spec, provisioned).await;
        self.state.lock().starting -= 1;
        match started {
            Ok(i) => {
                self.node.register(&i);
                Ok(i)
            }
            Err(e) => {
                inc(&self.node.metrics.init_failures);
                self.note_failure(Some(e.clone()));
                self.discard_slot();
                Err(e)
            }
        }
    }

    fn note_failure(&self, err: Option<FunctionError>) {
        let mut st = self.state.lock();
        st.failures += 1;
        st.last_failure = err;
        if st.failures >= 2 {
            let backoff = Duration::from_millis(100u64 << (st.failures - 2).min(9))
                .min(Duration::from_secs(30));
            st.retry_at = Some(Instant::now() + backoff);
            tracing::warn!(
                function = %self.spec.function,
                failures = st.failures,
                backoff_ms = backoff.as_millis() as u64,
                "crash loop: instances keep failing; backing off before the next start"
            );
        }
    }

    /// Offers a just-started instance's free slots to other requests at once.
    fn share(&self, inst: &Arc<Instance>) {
        if inst.in_use() < inst.capacity {
            let mut st = self.state.lock();
            if !st.retired {
                st.idle.push(inst.clone());
            }
        }
    }

    /// Counts an instance out of the pool once: its slot and memory are free.
    fn forget(&self, st: &mut State, inst: &Instance) -> bool {
        if inst.mark_gone() {
            st.running -= 1;
            self.node.budget.release(self.mem_mb());
            true
        } else {
            false
        }
    }

    /// A finished request's slot goes to the first waiter, else back to the
    /// instance (which rejoins the idle stack, most recently used, if it had left).
    fn release(&self, inst: Arc<Instance>) {
        let mut st = self.state.lock();
        st.failures = 0;
        st.retry_at = None;
        // Retired, or over a limit lowered while it ran: it stops once unused.
        if st.retired || st.running > st.max_concurrency {
            if inst.give_slot_back() == 0 && self.forget(&mut st, &inst) {
                st.idle.retain(|i| !Arc::ptr_eq(i, &inst));
                drop(st);
                self.node.stop_later(inst);
            }
            return;
        }
        let mut grant = Grant::Warm(inst);
        while let Some(w) = st.waiters.pop_front() {
            match w.send(grant) {
                Ok(()) => return,
                Err(g) => grant = g,
            }
        }
        if let Grant::Warm(inst) = grant {
            inst.give_slot_back();
            if !st.idle.iter().any(|i| Arc::ptr_eq(i, &inst)) {
                st.idle.push(inst);
            }
        }
    }

    /// A start that failed: its reserved slot and memory go to a waiter if any.
    fn discard_slot(&self) {
        let mut st = self.state.lock();
        st.running -= 1;
        self.node.budget.release(self.mem_mb());
        self.grant_spawns(&mut st);
        drop(st);
        self.node.memory_freed();
    }

    /// An instance died: out of the pool, its capacity to a waiter if any.
    fn discard(&self, inst: &Arc<Instance>) {
        let mut st = self.state.lock();
        inst.give_slot_back();
        st.idle.retain(|i| !Arc::ptr_eq(i, inst));
        if self.forget(&mut st, inst) {
            self.grant_spawns(&mut st);
            drop(st);
            self.node.memory_freed();
        }
    }

    /// Hands freed capacity to waiters as cold-start slots.
    fn grant_spawns(&self, st: &mut State) {
        while !st.waiters.is_empty() && st.running < st.max_concurrency && !st.retired {
            if !self.node.budget.try_reserve(self.mem_mb()) {
                return;
            }
            st.running += 1;
            let mut given = false;
            while let Some(w) = st.waiters.pop_front() {
                if w.send(Grant::Spawn).is_ok() {
                    given = true;
                    break;
                }
            }
            if !given {
                st.running -= 1;
                self.node.budget.release(self.mem_mb());
                return;
            }
        }
    }
}

impl Tenant for Pool {
    fn evict_one(&self) -> Option<Arc<Instance>> {
        self.take_oldest_idle()
    }

    fn has_waiters(&self) -> bool {
        !self.state.lock().waiters.is_empty()
    }

    fn memory_freed(&self) {
        self.on_memory_freed();
    }
}

impl Lender for Pool {
    fn settle(&self, inst: Arc<Instance>, s: Settled) {
        let outcome = match s.death {
            Some(Death::Timeout) => Outcome::Timeout,
            _ if s.failed => Outcome::Error,
            _ => Outcome::Success,
        };
        self.counters.count(s.duration_ms, s.init_ms, outcome);
        self.recent
            .record(s.request_id, s.duration_ms, s.init_ms, outcome);
        if let Some(ms) = s.billed_ms {
            self.usage.bill(ms, s.provisioned);
        }
        if s.provisioned {
            self.provisioned.give_back();
        }
        if let Some(c) = &s.cold_start {
            self.node.cold_starts.record(c);
        }
        let Some(death) = s.death else {
            *inst.last_used.lock() = Instant::now();
            return self.release(inst);
        };
        inc(match death {
            Death::Timeout => &self.node.metrics.timeouts,
            Death::Crash => &self.node.metrics.crashes,
            Death::OutOfMemory => &self.node.metrics.out_of_memory,
        });
        if let (Death::Crash, Some(e)) = (death, s.crash_error) {
            self.note_failure(Some(e));
        }
        self.discard(&inst);
    }
}
