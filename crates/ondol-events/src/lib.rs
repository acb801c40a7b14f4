//! Async invocations that never lose an event: a durable queue (the store commits
//! an event before its 202), workers that deliver through the same pools and limits
//! as synchronous calls (waiting for capacity instead of being throttled, leaving a
//! share of every function to synchronous traffic), retries with backoff under the
//! same request id, and success/failure destinations or the dead-letter store.

mod deliver;
pub mod expr;
mod record;
pub mod scheduler;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ondol_engine::Engine;
use ondol_store::{EventQueue, QueuedEvent, Store};
use parking_lot::Mutex;
use tokio::sync::Notify;

pub use record::destination_function;
pub use scheduler::{ScheduleView, Scheduler};

/// Node-level settings of async invocations.
#[derive(Debug, Clone)]
pub struct AsyncConfig {
    /// Largest accepted event payload (default 1 MB, Lambda's limit).
    pub max_payload: u64,
    /// Share of each function's concurrency kept for synchronous calls (default 0.2).
    pub sync_share: f64,
    /// First retry delay; it doubles per attempt, at most 5 minutes (default 1 s).
    pub retry_base: Duration,
    /// How often due events are looked for when nothing wakes the workers (100 ms).
    pub poll: Duration,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        Self {
            max_payload: 1024 * 1024,
            sync_share: 0.2,
            retry_base: Duration::from_secs(1),
            poll: Duration::from_millis(100),
        }
    }
}

/// Why an event was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("Request payload of {size} bytes exceeds the async limit of {limit} bytes; raise it with --async-max-payload")]
    TooLarge { size: u64, limit: u64 },
    #[error("could not store the event: {0}")]
    Store(String),
}

/// The queue and its workers.
pub struct Events {
    pub(crate) queue: Arc<dyn EventQueue>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) engine: Engine,
    pub(crate) cfg: AsyncConfig,
    wake: Notify,
    /// Set once the functions are loaded: no event is judged before that.
    ready: tokio::sync::watch::Sender<bool>,
    /// While set, nothing is delivered or fired: another process owns the queue
    /// (a takeover: the old server hands over, the new one waits for it).
    held: tokio::sync::watch::Sender<bool>,
    /// Events being delivered now (never dispatched twice at once).
    inflight: Mutex<HashSet<i64>>,
    /// Deliveries in flight per function.
    per_function: Mutex<HashMap<String, u32>>,
    /// Retries scheduled and events given up, since start (for the metrics).
    pub counters: EventCounters,
}

/// Counters of the async path, since start.
#[derive(Debug, Default)]
pub struct EventCounters {
    /// Failed deliveries scheduled again.
    pub retries: std::sync::atomic::AtomicU64,
    /// Events stored as dead letters.
    pub dead_letters: std::sync::atomic::AtomicU64,
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Events {
    /// Starts the workers, which wait for [`Events::resume`]. Events left from before
    /// a restart are delivered again.
    pub fn start(
        queue: Arc<dyn EventQueue>,
        store: Arc<dyn Store>,
        engine: Engine,
        cfg: AsyncConfig,
    ) -> Arc<Self> {
        let me = Arc::new(Self {
            queue,
            store,
            engine,
            cfg,
            wake: Notify::new(),
            ready: tokio::sync::watch::channel(false).0,
            held: tokio::sync::watch::channel(false).0,
            inflight: Mutex::new(HashSet::new()),
            per_function: Mutex::new(HashMap::new()),
            counters: EventCounters::default(),
        });
        tokio::spawn(me.clone().run());
        me
    }

    /// Lets the workers deliver: call once the functions are loaded into the engine.
    pub fn resume(&self) {
        self.ready.send_replace(true);
        self.wake.notify_one();
    }

    /// Stops starting deliveries and firing schedules (those under way finish):
    /// the queue stays in the store for whoever releases it.
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    /// Lets deliveries and schedules run again (this process now owns the queue).
    pub fn release(&self) {
        self.held.send_replace(false);
        self.wake.notify_one();
    }

    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    /// Waits until no delivery is in flight, at most `limit`; true if none is.
    pub async fn quiesce(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.inflight.lock().is_empty() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Looks for due events now (after a replay, say).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn config(&self) -> &AsyncConfig {
        &self.cfg
    }

    /// Stores an event durably (blocking: call it off the async runtime) and wakes
    /// the workers; returns its request id.
    pub fn enqueue(
        &self,
        function: &str,
        qualifier: Option<&str>,
        payload: Vec<u8>,
        request_id: Option<String>,
    ) -> Result<String, EnqueueError> {
        let size = payload.len() as u64;
        if size > self.cfg.max_payload {
            return Err(EnqueueError::TooLarge {
                size,
                limit: self.cfg.max_payload,
            });
        }
        let request_id = request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let now = now_ms();
        self.queue
            .enqueue(&QueuedEvent {
                id: 0,
                function: function.to_string(),
                qualifier: qualifier.map(str::to_string),
                request_id: request_id.clone(),
                payload,
                attempts: 0,
                enqueued_ms: now,
                next_ms: now,
            })
            .map_err(|e| EnqueueError::Store(e.to_string()))?;
        self.wake.notify_one();
        Ok(request_id)
    }

    /// How many deliveries of `function` may run at once: its concurrency less the
    /// share kept for synchronous calls, at least one.
    fn async_limit(&self, function: &str, version: &str) -> u32 {
        let max = self.engine.max_concurrency(function, version).unwrap_or(1);
        let keep = (f64::from(max) * self.cfg.sync_share).ceil() as u32;
        max.saturating_sub(keep).max(1).min(max.max(1))
    }

    async fn run(self: Arc<Self>) {
        let _ = self.ready.subscribe().wait_for(|r| *r).await;
        let mut held = self.held.subscribe();
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.cfg.poll) => {}
            }
            let _ = held.wait_for(|h| !*h).await;
            let queue = self.queue.clone();
            let due = match tokio::task::spawn_blocking(move || queue.due(now_ms(), 512)).await {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "could not read the async queue");
                    continue;
                }
                Err(_) => continue,
            };
            for ev in due {
                self.dispatch(ev);
            }
        }
    }

    /// Starts delivering one event unless it is already in flight or its function
    /// is at its async limit (it then waits: nothing is throttled).
    fn dispatch(self: &Arc<Self>, ev: QueuedEvent) {
        if self.inflight.lock().contains(&ev.id) {
            return;
        }
        let version = self.engine.pick(&ev.function, ev.qualifier.as_deref());
        if let Some(v) = &version {
            let limit = self.async_limit(&ev.function, v);
            let mut per = self.per_function.lock();
            let n = per.entry(ev.function.clone()).or_insert(0);
            if *n >= limit {
                return;
            }
            *n += 1;
        }
        self.inflight.lock().insert(ev.id);
        let me = self.clone();
        tokio::spawn(async move {
            let (id, function, counted) = (ev.id, ev.function.clone(), version.is_some());
            me.deliver(ev, version).await;
            me.inflight.lock().remove(&id);
            if counted {
                if let Some(n) = me.per_function.lock().get_mut(&function) {
                    *n = n.saturating_sub(1);
                }
            }
            me.wake.notify_one();
        });
    }
}
