//! The durable async queue and the dead-letter store. An event is committed
//! (synchronous=FULL) before its 202 goes out; it leaves the queue only when it was
//! delivered or dead-lettered, so a kill -9 loses nothing (delivery is at least once).

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::{Result, SqliteStore};

/// An event waiting for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedEvent {
    pub id: i64,
    pub function: String,
    pub qualifier: Option<String>,
    /// The same across retries, so handlers can be idempotent.
    pub request_id: String,
    pub payload: Vec<u8>,
    /// Deliveries that failed so far.
    pub attempts: u32,
    pub enqueued_ms: i64,
    pub next_ms: i64,
}

/// An event whose delivery was given up, with Lambda's destination record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: i64,
    pub function: String,
    pub qualifier: Option<String>,
    pub request_id: String,
    pub payload: Vec<u8>,
    pub attempts: u32,
    pub enqueued_ms: i64,
    pub failed_ms: i64,
    /// `{version, timestamp, requestContext, requestPayload, responseContext, responsePayload}`.
    pub record: serde_json::Value,
}

/// A schedule's firing state: the last slot fired (never fired twice) and its event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub key: String,
    pub created_ms: i64,
    pub last_slot_ms: Option<i64>,
    pub last_request_id: Option<String>,
}

/// One firing (or skipped firing) of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRun {
    pub slot_ms: i64,
    pub fired_ms: i64,
    pub request_id: Option<String>,
    /// `queued`, `succeeded`, `failed`, `skipped (overlap)`, `caught up`...
    pub outcome: String,
}

/// Runs kept per schedule.
const RUNS_KEPT: i64 = 100;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schedule_state (
    key TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    last_slot_ms INTEGER,
    last_request_id TEXT
);
CREATE TABLE IF NOT EXISTS schedule_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    slot_ms INTEGER NOT NULL,
    fired_ms INTEGER NOT NULL,
    request_id TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS schedule_runs_key ON schedule_runs (key, id);
CREATE INDEX IF NOT EXISTS schedule_runs_req ON schedule_runs (request_id);
CREATE TABLE IF NOT EXISTS async_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function TEXT NOT NULL,
    qualifier TEXT,
    request_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_ms INTEGER NOT NULL,
    next_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS async_due ON async_events (next_ms);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function TEXT NOT NULL,
    qualifier TEXT,
    request_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    failed_ms INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_fn ON dead_letters (function, id);
";

fn event(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueuedEvent> {
    Ok(QueuedEvent {
        id: r.get(0)?,
        function: r.get(1)?,
        qualifier: r.get(2)?,
        request_id: r.get(3)?,
        payload: r.get(4)?,
        attempts: r.get(5)?,
        enqueued_ms: r.get(6)?,
        next_ms: r.get(7)?,
    })
}

fn letter(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeadLetter> {
    let record: String = r.get(8)?;
    Ok(DeadLetter {
        id: r.get(0)?,
        function: r.get(1)?,
        qualifier: r.get(2)?,
        request_id: r.get(3)?,
        payload: r.get(4)?,
        attempts: r.get(5)?,
        enqueued_ms: r.get(6)?,
        failed_ms: r.get(7)?,
        record: serde_json::from_str(&record).unwrap_or(serde_json::Value::Null),
    })
}

const EVENT_COLS: &str =
    "id, function, qualifier, request_id, payload, attempts, enqueued_ms, next_ms";
const LETTER_COLS: &str =
    "id, function, qualifier, request_id, payload, attempts, enqueued_ms, failed_ms, record";

/// The async queue and dead letters, behind a trait like the rest of the store.
pub trait EventQueue: Send + Sync + 'static {
    /// Stores an event durably; returns its id.
    fn enqueue(&self, e: &QueuedEvent) -> Result<i64>;
    /// Events due at `now_ms`, oldest due first.
    fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<QueuedEvent>>;
    /// Events queued for a function (or all), for inspection.
    fn queued(&self, function: Option<&str>) -> Result<Vec<QueuedEvent>>;
    /// The event was delivered.
    fn delivered(&self, id: i64) -> Result<()>;
    /// Tries again at `next_ms`, with `attempts` failures counted.
    fn reschedule(&self, id: i64, next_ms: i64, attempts: u32) -> Result<()>;
    /// Moves an event to the dead-letter store, in one transaction.
    fn dead_letter(&self, id: i64, d: &DeadLetter) -> Result<()>;
    fn dead_letters(&self, function: &str) -> Result<Vec<DeadLetter>>;
    /// How many dead letters each function has (functions with none left out).
    fn dead_letter_counts(&self) -> Result<Vec<(String, u64)>>;
    fn dead_letter_by_id(&self, function: &str, id: i64) -> Result<Option<DeadLetter>>;
    /// Removes dead letters (one, or all of a function); returns how many.
    fn purge_dead_letters(&self, function: &str, id: Option<i64>) -> Result<usize>;
    /// Puts dead letters back on the queue (same request ids, attempts reset).
    fn replay_dead_letters(&self, function: &str, id: Option<i64>, now_ms: i64) -> Result<usize>;
    /// A schedule's state, created (anchored at `now_ms`) on first sight.
    fn schedule_state(&self, key: &str, now_ms: i64) -> Result<ScheduleState>;
    /// Fires a slot: the event is queued and the slot marked fired, together, so a
    /// slot is never fired twice (even across a crash). `None` records a skip.
    fn fire(
        &self,
        key: &str,
        slot_ms: i64,
        event: Option<&QueuedEvent>,
        outcome: &str,
    ) -> Result<()>;
    /// Newest first.
    fn schedule_runs(&self, key: &str, limit: usize) -> Result<Vec<ScheduleRun>>;
    /// Records how a scheduled firing's delivery ended (no-op for other events).
    fn run_outcome(&self, request_id: &str, outcome: &str) -> Result<()>;
    /// Whether an event with this request id is still queued.
    fn is_queued(&self, request_id: &str) -> Result<bool>;
}

impl EventQueue for SqliteStore {
    fn enqueue(&self, e: &QueuedEvent) -> Result<i64> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO async_events (function, qualifier, request_id, payload, attempts, enqueued_ms, next_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![e.function, e.qualifier, e.request_id, e.payload, e.attempts, e.enqueued_ms, e.next_ms],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Events due at `now_ms`, oldest due first.
    fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<QueuedEvent>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLS} FROM async_events WHERE next_ms <= ?1 ORDER BY next_ms, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now_ms, limit as i64], event)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Events queued for a function (or all), for inspection.
    fn queued(&self, function: Option<&str>) -> Result<Vec<QueuedEvent>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {EVENT_COLS} FROM async_events WHERE ?1 IS NULL OR function = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![function], event)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The event was delivered.
    fn delivered(&self, id: i64) -> Result<()> {
        self.conn
            .lock()
            .execute("DELETE FROM async_events WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Tries again at `next_ms`, with `attempts` failures counted.
    fn reschedule(&self, id: i64, next_ms: i64, attempts: u32) -> Result<()> {
        self.conn.lock().execute(
            "UPDATE async_events SET next_ms = ?2, attempts = ?3 WHERE id = ?1",
            params![id, next_ms, attempts],
        )?;
        Ok(())
    }

    /// Moves an event to the dead-letter store, in one transaction.
    fn dead_letter(&self, id: i64, d: &DeadLetter) -> Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO dead_letters (function, qualifier, request_id, payload, attempts, enqueued_ms, failed_ms, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![d.function, d.qualifier, d.request_id, d.payload, d.attempts, d.enqueued_ms, d.failed_ms, d.record.to_string()],
        )?;
        tx.execute("DELETE FROM async_events WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    fn dead_letters(&self, function: &str) -> Result<Vec<DeadLetter>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {LETTER_COLS} FROM dead_letters WHERE function = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([function], letter)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn dead_letter_counts(&self) -> Result<Vec<(String, u64)>> {
        let conn = self.conn.lock();
        let mut stmt =
            conn.prepare("SELECT function, COUNT(*) FROM dead_letters GROUP BY function")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn dead_letter_by_id(&self, function: &str, id: i64) -> Result<Option<DeadLetter>> {
        let conn = self.conn.lock();
        Ok(conn
            .query_row(
                &format!("SELECT {LETTER_COLS} FROM dead_letters WHERE function = ?1 AND id = ?2"),
                params![function, id],
                letter,
            )
            .optional()?)
    }

    /// Removes dead letters (one, or all of a function); returns how many.
    fn purge_dead_letters(&self, function: &str, id: Option<i64>) -> Result<usize> {
        let n = self.conn.lock().execute(
            "DELETE FROM dead_letters WHERE function = ?1 AND (?2 IS NULL OR id = ?2)",
            params![function, id],
        )?;
        Ok(n)
    }

    /// Puts dead letters back on the queue (same request ids, attempts reset) and
    /// removes them from the dead-letter store, in one transaction.
    fn replay_dead_letters(&self, function: &str, id: Option<i64>, now_ms: i64) -> Result<usize> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "INSERT INTO async_events (function, qualifier, request_id, payload, attempts, enqueued_ms, next_ms)
             SELECT function, qualifier, request_id, payload, 0, ?3, ?3 FROM dead_letters
             WHERE function = ?1 AND (?2 IS NULL OR id = ?2)",
            params![function, id, now_ms],
        )?;
        tx.execute(
            "DELETE FROM dead_letters WHERE function = ?1 AND (?2 IS NULL OR id = ?2)",
            params![function, id],
        )?;
        tx.commit()?;
        Ok(n)
    }

    fn schedule_state(&self, key: &str, now_ms: i64) -> Result<ScheduleState> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT OR IGNORE INTO schedule_state (key, created_ms) VALUES (?1, ?2)",
            params![key, now_ms],
        )?;
        Ok(conn.query_row(
            "SELECT key, created_ms, last_slot_ms, last_request_id FROM schedule_state WHERE key = ?1",
            [key],
            |r| {
                Ok(ScheduleState {
                    key: r.get(0)?,
                    created_ms: r.get(1)?,
                    last_slot_ms: r.get(2)?,
                    last_request_id: r.get(3)?,
                })
            },
        )?)
    }

    fn fire(
        &self,
        key: &str,
        slot_ms: i64,
        event: Option<&QueuedEvent>,
        outcome: &str,
    ) -> Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let now = chrono_now_ms();
        if let Some(e) = event {
            tx.execute(
                "INSERT INTO async_events (function, qualifier, request_id, payload, attempts, enqueued_ms, next_ms) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)",
                params![e.function, e.qualifier, e.request_id, e.payload, now],
            )?;
            tx.execute(
                "UPDATE schedule_state SET last_slot_ms = ?2, last_request_id = ?3 WHERE key = ?1",
                params![key, slot_ms, e.request_id],
            )?;
        } else {
            tx.execute(
                "UPDATE schedule_state SET last_slot_ms = ?2 WHERE key = ?1",
                params![key, slot_ms],
            )?;
        }
        tx.execute(
            "INSERT INTO schedule_runs (key, slot_ms, fired_ms, request_id, outcome) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key, slot_ms, now, event.map(|e| e.request_id.as_str()), outcome],
        )?;
        tx.execute(
            "DELETE FROM schedule_runs WHERE key = ?1 AND id <= (SELECT max(id) FROM schedule_runs WHERE key = ?1) - ?2",
            params![key, RUNS_KEPT],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn schedule_runs(&self, key: &str, limit: usize) -> Result<Vec<ScheduleRun>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(
            "SELECT slot_ms, fired_ms, request_id, outcome FROM schedule_runs WHERE key = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![key, limit as i64], |r| {
            Ok(ScheduleRun {
                slot_ms: r.get(0)?,
                fired_ms: r.get(1)?,
                request_id: r.get(2)?,
                outcome: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn run_outcome(&self, request_id: &str, outcome: &str) -> Result<()> {
        self.conn.lock().execute(
            "UPDATE schedule_runs SET outcome = ?2 || CASE WHEN outcome LIKE '%(caught up)' THEN ' (caught up)' ELSE '' END WHERE request_id = ?1",
            params![request_id, outcome],
        )?;
        Ok(())
    }

    fn is_queued(&self, request_id: &str) -> Result<bool> {
        let n: i64 = self.conn.lock().query_row(
            "SELECT count(*) FROM async_events WHERE request_id = ?1",
            [request_id],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
