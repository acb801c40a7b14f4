//! Billable usage in hourly rows, in its own SQLite file beside the logs (it is
//! kept for good: the log store's retention and size cap don't touch it). The
//! server adds a few seconds' worth at a time, never a row per request.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection};
use serde::Serialize;

/// One hour's usage of a version (or a query's sum over hours).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    pub function: String,
    pub version: String,
    /// The stage whose alias served the version when it was recorded (`""`: none).
    pub stage: String,
    pub memory_mb: u32,
    pub requests: u64,
    /// Sum of the REPORT lines' Billed Duration.
    pub billed_ms: u64,
    /// Of `billed_ms`, what invocations within `min_warm` ran (provisioned).
    pub provisioned_billed_ms: u64,
    /// Instance-milliseconds kept ready by `min_warm` (provisioned concurrency).
    pub provisioned_ms: u64,
    /// Requests through the HTTP front door (rows with an empty version).
    pub http_requests: u64,
}

impl UsageRow {
    fn gb_s(&self, ms: u64) -> f64 {
        ms as f64 * f64::from(self.memory_mb) / 1024.0 / 1000.0
    }

    /// All billed duration × memory.
    pub fn gb_seconds(&self) -> f64 {
        self.gb_s(self.billed_ms)
    }

    /// The billed duration of invocations run on demand × memory.
    pub fn on_demand_gb_seconds(&self) -> f64 {
        self.gb_s(self.billed_ms.saturating_sub(self.provisioned_billed_ms))
    }

    /// The billed duration of invocations within `min_warm` × memory.
    pub fn provisioned_duration_gb_seconds(&self) -> f64 {
        self.gb_s(self.provisioned_billed_ms)
    }

    /// Time instances were kept ready by `min_warm` × memory.
    pub fn provisioned_gb_seconds(&self) -> f64 {
        self.gb_s(self.provisioned_ms)
    }
}

pub struct UsageStore {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS usage (
    hour INTEGER NOT NULL,
    function TEXT NOT NULL,
    version TEXT NOT NULL,
    stage TEXT NOT NULL,
    memory_mb INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    billed_ms INTEGER NOT NULL DEFAULT 0,
    provisioned_billed_ms INTEGER NOT NULL DEFAULT 0,
    provisioned_ms INTEGER NOT NULL DEFAULT 0,
    http_requests INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, function, version, stage, memory_mb)
);
CREATE TABLE IF NOT EXISTS budget_alerts (
    month TEXT NOT NULL,
    scope TEXT NOT NULL,
    threshold INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (month, scope, threshold)
);
";

impl UsageStore {
    pub fn open(path: &Path) -> rusqlite::Result<Arc<Self>> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        add_provisioned_billed_ms(&conn)?;
        Ok(Arc::new(Self {
            conn: Mutex::new(conn),
        }))
    }

    /// Adds rows to an hour (hours since the epoch), in one transaction.
    pub fn add(&self, hour: i64, rows: &[UsageRow]) -> rusqlite::Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO usage (hour, function, version, stage, memory_mb, requests, billed_ms, provisioned_ms, http_requests, provisioned_billed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (hour, function, version, stage, memory_mb) DO UPDATE SET
                   requests = requests + excluded.requests,
                   billed_ms = billed_ms + excluded.billed_ms,
                   provisioned_billed_ms = provisioned_billed_ms + excluded.provisioned_billed_ms,
                   provisioned_ms = provisioned_ms + excluded.provisioned_ms,
                   http_requests = http_requests + excluded.http_requests",
            )?;
            for r in rows {
                st.execute(params![
                    hour,
                    r.function,
                    r.version,
                    r.stage,
                    r.memory_mb,
                    r.requests as i64,
                    r.billed_ms as i64,
                    r.provisioned_ms as i64,
                    r.http_requests as i64,
                    r.provisioned_billed_ms as i64
                ])?;
            }
        }
        tx.commit()
    }

    /// Usage in hours `[from, to)`, summed per function, version, stage and memory.
    pub fn between(&self, from: i64, to: i64) -> rusqlite::Result<Vec<UsageRow>> {
        let conn = self.conn.lock();
        let mut st = conn.prepare_cached(
            "SELECT function, version, stage, memory_mb, SUM(requests), SUM(billed_ms), SUM(provisioned_ms), SUM(http_requests), SUM(provisioned_billed_ms)
             FROM usage WHERE hour >= ?1 AND hour < ?2
             GROUP BY function, version, stage, memory_mb ORDER BY function, version, stage",
        )?;
        let rows = st.query_map(params![from, to], |r| {
            Ok(UsageRow {
                function: r.get(0)?,
                version: r.get(1)?,
                stage: r.get(2)?,
                memory_mb: r.get(3)?,
                requests: r.get::<_, i64>(4)? as u64,
                billed_ms: r.get::<_, i64>(5)? as u64,
                provisioned_ms: r.get::<_, i64>(6)? as u64,
                http_requests: r.get::<_, i64>(7)? as u64,
                provisioned_billed_ms: r.get::<_, i64>(8)? as u64,
            })
        })?;
        rows.collect()
    }

    /// Records a budget threshold crossed in a month; false if it already was.
    pub fn alert_once(
        &self,
        month: &str,
        scope: &str,
        threshold: u32,
        at_ms: i64,
    ) -> rusqlite::Result<bool> {
        let conn = self.conn.lock();
        let n = conn.execute(
            "INSERT OR IGNORE INTO budget_alerts (month, scope, threshold, at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![month, scope, threshold, at_ms],
        )?;
        Ok(n == 1)
    }
}

/// A usage.db written before provisioned duration was counted gains its column
/// (zero: those rows were all priced on demand).
fn add_provisioned_billed_ms(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('usage') WHERE name = 'provisioned_billed_ms'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE usage ADD COLUMN provisioned_billed_ms INTEGER NOT NULL DEFAULT 0",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_add_up_per_hour() {
        let dir = tempfile::tempdir().unwrap();
        let s = UsageStore::open(&dir.path().join("u.db")).unwrap();
        let r = UsageRow {
            function: "f".into(),
            version: "1".into(),
            memory_mb: 1024,
            requests: 2,
            billed_ms: 1500,
            provisioned_billed_ms: 500,
            ..Default::default()
        };
        s.add(10, std::slice::from_ref(&r)).unwrap();
        s.add(10, std::slice::from_ref(&r)).unwrap();
        s.add(11, &[r]).unwrap();
        let all = s.between(0, 100).unwrap();
        assert_eq!((all[0].requests, all[0].billed_ms), (6, 4500));
        assert!((all[0].gb_seconds() - 4.5).abs() < 1e-12);
        assert_eq!(all[0].provisioned_billed_ms, 1500);
        assert!((all[0].on_demand_gb_seconds() - 3.0).abs() < 1e-12);
        assert_eq!(s.between(11, 12).unwrap()[0].requests, 2);
        assert!(s.alert_once("2026-11", "node", 80, 0).unwrap());
        assert!(!s.alert_once("2026-11", "node", 80, 0).unwrap());
    }

    #[test]
    fn an_older_usage_db_gains_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE usage (hour INTEGER NOT NULL, function TEXT NOT NULL,
                   version TEXT NOT NULL, stage TEXT NOT NULL, memory_mb INTEGER NOT NULL,
                   requests INTEGER NOT NULL DEFAULT 0, billed_ms INTEGER NOT NULL DEFAULT 0,
                   provisioned_ms INTEGER NOT NULL DEFAULT 0, http_requests INTEGER NOT NULL DEFAULT 0,
                   PRIMARY KEY (hour, function, version, stage, memory_mb));
                 INSERT INTO usage VALUES (1, 'f', '1', '', 128, 2, 300, 0, 0);",
            )
            .unwrap();
        let s = UsageStore::open(&path).unwrap();
        let all = s.between(0, 10).unwrap();
        assert_eq!((all[0].billed_ms, all[0].provisioned_billed_ms), (300, 0));
        drop(s);
        UsageStore::open(&path).unwrap();
    }
}
