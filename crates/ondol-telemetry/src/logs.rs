//! The log store. `emit` hands a record to a bounded channel (a full channel drops
//! the record and counts it); one writer thread batches records into SQLite and
//! enforces retention (default 7 days) and a size cap (default 512 MB).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ondol_core::{LogRecord, LogSink};
use parking_lot::Mutex;
use rusqlite::{params, Connection};
use serde::Serialize;

/// Retention and capacity of the log store.
#[derive(Debug, Clone)]
pub struct LogStoreConfig {
    /// Records older than this are deleted (default 7 days).
    pub retention: Duration,
    /// Oldest records are deleted past this database size (default 512 MB).
    pub max_bytes: u64,
    /// Records buffered between the invocation path and the writer (default 65,536).
    pub buffer: usize,
}

impl Default for LogStoreConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 512 * 1024 * 1024,
            buffer: 65_536,
        }
    }
}

/// One stored line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: i64,
    pub ts_ms: i64,
    pub function: String,
    pub version: String,
    pub request_id: Option<String>,
    pub instance: String,
    pub line: String,
}

/// A query: every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub function: Option<String>,
    pub version: Option<String>,
    pub request_id: Option<String>,
    /// Lines containing this text, ASCII case ignored.
    pub text: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only records after this sequence number (for following).
    pub after_seq: Option<i64>,
    /// Most records returned, newest kept (default 1,000).
    pub limit: Option<u32>,
}

pub struct LogStore {
    tx: SyncSender<LogRecord>,
    dropped: AtomicU64,
    /// Records accepted, and records the writer has committed: `flush` waits for
    /// the second to reach the first.
    sent: AtomicU64,
    written: Arc<AtomicU64>,
    path: PathBuf,
    reader: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    function TEXT NOT NULL,
    version TEXT NOT NULL,
    request_id TEXT,
    instance TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_fn ON logs (function, seq);
CREATE INDEX IF NOT EXISTS logs_req ON logs (request_id);
DROP INDEX IF EXISTS logs_ts;
";

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

impl LogStore {
    /// Opens the store at `path` and starts its writer thread.
    pub fn open(path: &Path, cfg: LogStoreConfig) -> rusqlite::Result<Arc<Self>> {
        let writer = open(path)?;
        let reader = open(path)?;
        let (tx, rx) = sync_channel(cfg.buffer);
        let written = Arc::new(AtomicU64::new(0));
        let counted = written.clone();
        std::thread::Builder::new()
            .name("ondol-logs".into())
            .spawn(move || write_loop(writer, rx, cfg, &counted))
            .expect("spawn log writer");
        Ok(Arc::new(Self {
            tx,
            dropped: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            written,
            path: path.to_path_buf(),
            reader: Mutex::new(reader),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits (at most `timeout`) until every record emitted so far is committed:
    /// a stopping server loses no line (the writer batches every 20 ms).
    pub fn flush(&self, timeout: Duration) -> bool {
        let target = self.sent.load(Relaxed);
        let began = Instant::now();
        while self.written.load(Relaxed) < target {
            if began.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Waits (at most `timeout`) until the END or REPORT line of `request_id` is
    /// stored, so a query right after the response finds the whole request; false
    /// if it never was (an unknown id, or a request still running).
    pub fn wait_for_request(&self, request_id: &str, timeout: Duration) -> rusqlite::Result<bool> {
        let began = Instant::now();
        loop {
            // Lines already accepted are committed within one writer batch.
            self.flush(timeout.saturating_sub(began.elapsed()));
            if self.has_end(request_id)? {
                return Ok(true);
            }
            if began.elapsed() >= timeout {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn has_end(&self, request_id: &str) -> rusqlite::Result<bool> {
        self.reader.lock().query_row(
            "SELECT EXISTS(SELECT 1 FROM logs WHERE request_id = ?1 \
             AND (line LIKE 'END RequestId:%' OR line LIKE 'REPORT RequestId:%'))",
            [request_id],
            |r| r.get(0),
        )
    }

    /// Records dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Runs a query (blocking: call it off the async runtime).
    pub fn query(&self, q: &LogQuery) -> rusqlite::Result<Vec<LogEntry>> {
        let mut sql = String::from(
            "SELECT seq, ts_ms, function, version, request_id, instance, line FROM logs WHERE 1=1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut push = |cond: &str, v: rusqlite::types::Value| {
            sql.push_str(cond);
            args.push(v);
        };
        if let Some(f) = &q.function {
            push(" AND function = ?", f.clone().into());
        }
        if let Some(v) = &q.version {
            push(" AND version = ?", v.clone().into());
        }
        if let Some(r) = &q.request_id {
            push(" AND request_id = ?", r.clone().into());
        }
        if let Some(t) = q.text.as_ref().filter(|t| !t.is_empty()) {
            push(" AND instr(lower(line), lower(?)) > 0", t.clone().into());
        }
        if let Some(t) = q.since_ms {
            push(" AND ts_ms >= ?", t.into());
        }
        if let Some(t) = q.until_ms {
            push(" AND ts_ms <= ?", t.into());
        }
        if let Some(s) = q.after_seq {
            push(" AND seq > ?", s.into());
        }
        let limit = q.limit.unwrap_or(1000);
        sql = format!("SELECT * FROM ({sql} ORDER BY seq DESC LIMIT {limit}) ORDER BY seq");
        let conn = self.reader.lock();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok(LogEntry {
                seq: r.get(0)?,
                ts_ms: r.get(1)?,
                function: r.get(2)?,
                version: r.get(3)?,
                request_id: r.get(4)?,
                instance: r.get(5)?,
                line: r.get(6)?,
            })
        })?;
        rows.collect()
    }
}

impl LogSink for LogStore {
    fn emit(&self, record: LogRecord) {
        match self.tx.try_send(record) {
            Ok(()) => {
                self.sent.fetch_add(1, Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Writes in batches at most every 20 ms: few commits, and senders rarely find the
/// writer parked on the channel (so `emit` seldom pays for a wake-up).
fn write_loop(
    mut conn: Connection,
    rx: Receiver<LogRecord>,
    cfg: LogStoreConfig,
    written: &AtomicU64,
) {
    let mut last_trim = Instant::now();
    let mut batch = Vec::with_capacity(4096);
    loop {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(r) => batch.push(r),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        std::thread::sleep(Duration::from_millis(20));
        batch.extend(rx.try_iter());
        if !batch.is_empty() {
            if let Err(e) = insert(&mut conn, &batch) {
                tracing::error!(error = %e, "could not store function logs");
            }
            // Counted also when the insert failed: flush waits for the attempt.
            written.fetch_add(batch.len() as u64, Relaxed);
            batch.clear();
        }
        if last_trim.elapsed() > Duration::from_secs(60) {
            last_trim = Instant::now();
            if let Err(e) = trim(&conn, &cfg) {
                tracing::error!(error = %e, "could not trim function logs");
            }
        }
    }
}

fn insert(conn: &mut Connection, batch: &[LogRecord]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO logs (ts_ms, function, version, request_id, instance, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in batch {
            stmt.execute(params![
                r.ts_ms,
                &*r.function,
                &*r.version,
                r.request_id.as_deref(),
                &*r.instance,
                r.line
            ])?;
        }
    }
    tx.commit()
}

/// Deletes expired records, then the oldest tenth while over the size cap.
fn trim(conn: &Connection, cfg: &LogStoreConfig) -> rusqlite::Result<()> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let cutoff = now_ms - cfg.retention.as_millis() as i64;
    conn.execute("DELETE FROM logs WHERE ts_ms < ?1", [cutoff])?;
    for _ in 0..10 {
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        if ((pages - free) * size) as u64 <= cfg.max_bytes {
            break;
        }
        conn.execute(
            "DELETE FROM logs WHERE seq <= (SELECT min(seq) + (max(seq) - min(seq)) / 10 FROM logs)",
            [],
        )?;
    }
    Ok(())
}

/// Exposed for tests: trims now.
#[doc(hidden)]
pub fn trim_now(path: &Path, cfg: &LogStoreConfig) -> rusqlite::Result<()> {
    trim(&open(path)?, cfg)
}
