//! Schedules: each firing is an async invocation (retries, destinations and dead
//! letters apply). A slot is marked fired in the same transaction that queues its
//! event, so no slot fires twice, even across a crash; missed slots after downtime
//! follow `catch_up`, and `overlap = "skip"` skips a slot while the previous run is
//! still queued or running.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ondol_core::manifest::{AppHttp, Schedule};
use ondol_store::{EventQueue, QueuedEvent, ScheduleRun};
use parking_lot::RwLock;
use serde_json::json;
use tokio::sync::Notify;

use crate::expr::Expr;
use crate::{now_ms, Events};

/// A slot later than this is a missed one (downtime), handled by `catch_up`.
const LATE: i64 = 2_000;
/// Missed slots fired at most, for `catch_up = "all"`.
const MAX_CATCH_UP: usize = 1_000;

struct Entry {
    key: String,
    app: String,
    stage: String,
    schedule: Schedule,
    expr: Expr,
    tz: Tz,
}

/// What `ondol schedules` shows of one schedule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScheduleView {
    pub app: String,
    pub stage: String,
    pub name: String,
    pub function: String,
    pub expression: String,
    pub timezone: String,
    pub next: Option<String>,
    pub runs: Vec<ScheduleRun>,
}

pub struct Scheduler {
    events: Arc<Events>,
    queue: Arc<dyn EventQueue>,
    entries: RwLock<Arc<Vec<Entry>>>,
    changed: Notify,
}

/// Checks a schedule's expression and time zone; the error names the key.
pub fn validate(s: &Schedule) -> Result<(), String> {
    Expr::parse(&s.expression).map_err(|e| format!("expression: {e}"))?;
    s.timezone.parse::<Tz>().map_err(|_| {
        format!(
            "timezone: \"{}\" is not an IANA time zone (like Asia/Seoul)",
            s.timezone
        )
    })?;
    Ok(())
}

impl Scheduler {
    pub fn start(events: Arc<Events>, queue: Arc<dyn EventQueue>) -> Arc<Self> {
        let me = Arc::new(Self {
            events,
            queue,
            entries: RwLock::new(Arc::new(Vec::new())),
            changed: Notify::new(),
        });
        tokio::spawn(me.clone().run());
        me
    }

    /// Replaces the schedules with those of `apps` (invalid ones are skipped: the
    /// API refuses them before they are stored).
    pub fn set(&self, apps: &[AppHttp]) {
        let entries = apps
            .iter()
            .flat_map(|a| a.schedules.iter().map(move |s| (a, s)))
            .filter_map(|(a, s)| {
                Some(Entry {
                    key: if a.stage == ondol_core::manifest::DEFAULT_STAGE {
                        format!("{}/{}", a.app, s.name)
                    } else {
                        format!("{}@{}/{}", a.app, a.stage, s.name)
                    },
                    app: a.app.clone(),
                    stage: a.stage.clone(),
                    schedule: s.clone(),
                    expr: Expr::parse(&s.expression).ok()?,
                    tz: s.timezone.parse().ok()?,
                })
            })
            .collect();
        *self.entries.write() = Arc::new(entries);
        self.changed.notify_one();
    }

    /// Each schedule with its next firing and recent runs (blocking store reads).
    pub fn view(&self) -> Vec<ScheduleView> {
        let entries = self.entries.read().clone();
        entries
            .iter()
            .map(|e| {
                let state = self.queue.schedule_state(&e.key, now_ms()).ok();
                let next = state.and_then(|st| self.next_slot(e, st.last_slot_ms, st.created_ms));
                ScheduleView {
                    app: e.app.clone(),
                    stage: e.stage.clone(),
                    name: e.schedule.name.clone(),
                    function: e.schedule.function.clone(),
                    expression: e.schedule.expression.clone(),
                    timezone: e.schedule.timezone.clone(),
                    next: next.map(|ms| ms_time(ms).to_rfc3339()),
                    runs: self.queue.schedule_runs(&e.key, 20).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The first slot after the last fired one (or after the schedule was first seen).
    fn next_slot(&self, e: &Entry, last: Option<i64>, created: i64) -> Option<i64> {
        let from = last.unwrap_or(created);
        e.expr
            .next_after(ms_time(from), e.tz, ms_time(created))
            .map(|t| t.timestamp_millis())
    }

    async fn run(self: Arc<Self>) {
        loop {
            let me = self.clone();
            let wait = if self.events.is_held() {
                Duration::from_millis(100)
            } else {
                tokio::task::spawn_blocking(move || me.tick())
                    .await
                    .unwrap_or(Duration::from_secs(1))
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.changed.notified() => {}
            }
        }
    }

    /// Fires what is due; returns how long until the next slot (at most 1 s).
    fn tick(&self) -> Duration {
        let entries = self.entries.read().clone();
        let mut wait = Duration::from_secs(1);
        let mut fired = false;
        for e in entries.iter() {
            let now = now_ms();
            let Ok(st) = self.queue.schedule_state(&e.key, now) else {
                continue;
            };
            let mut due = Vec::new();
            let mut last = st.last_slot_ms;
            while let Some(slot) = self.next_slot(e, last, st.created_ms) {
                if slot > now || due.len() > MAX_CATCH_UP {
                    wait = wait.min(Duration::from_millis((slot - now).max(0) as u64));
                    break;
                }
                due.push(slot);
                last = Some(slot);
            }
            let Some(&newest) = due.last() else { continue };
            let missed = due.len() > 1 || now - newest > LATE;
            let to_fire: Vec<i64> = match (missed, e.schedule.catch_up.as_str()) {
                (false, _) | (true, "all") => due.clone(),
                (true, "last") => vec![newest],
                _ => Vec::new(),
            };
            if to_fire.is_empty() {
                let _ = self
                    .queue
                    .fire(&e.key, newest, None, "missed (catch_up=none)");
                continue;
            }
            let mut previous = st.last_request_id.clone();
            for slot in to_fire {
                let outcome = if missed {
                    "queued (caught up)"
                } else {
                    "queued"
                };
                if e.schedule.overlap == "skip" {
                    if let Some(rid) = &previous {
                        if self.queue.is_queued(rid).unwrap_or(false) {
                            let _ = self.queue.fire(&e.key, slot, None, "skipped (overlap)");
                            continue;
                        }
                    }
                }
                let ev = self.event(e, slot);
                if let Err(err) = self.queue.fire(&e.key, slot, Some(&ev), outcome) {
                    tracing::error!(schedule = %e.key, error = %err, "could not fire a schedule");
                    break;
                }
                tracing::info!(schedule = %e.key, slot = %ms_time(slot).to_rfc3339(), request_id = %ev.request_id, "schedule fired");
                previous = Some(ev.request_id);
                fired = true;
            }
        }
        if fired {
            self.events.wake();
        }
        wait
    }

    /// The event of one firing: the schedule's input, or EventBridge's Scheduled Event.
    fn event(&self, e: &Entry, slot: i64) -> QueuedEvent {
        let arn = self.events.engine.arn();
        let input = e.schedule.input.clone().unwrap_or_else(|| {
            json!({
                "version": "0",
                "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": arn.account,
                "time": ms_time(slot).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "region": arn.region,
                "resources": [format!("arn:aws:events:{}:{}:rule/{}-{}", arn.region, arn.account, e.app, e.schedule.name)],
                "detail": {},
            })
        });
        QueuedEvent {
            id: 0,
            function: e.schedule.function.clone(),
            qualifier: e.schedule.qualifier.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            payload: input.to_string().into_bytes(),
            attempts: 0,
            enqueued_ms: now_ms(),
            next_ms: now_ms(),
        }
    }
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
