//! The default [`Store`]: one SQLite database in WAL mode, synchronous=FULL so a
//! returned write survives kill -9 and power loss.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};

use ondol_core::manifest::AppHttp;

use crate::{DeployRecord, Error, FunctionRecord, Result, Store};

pub struct SqliteStore {
    pub(crate) conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deploys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deploys_app ON deploys (app, id);
CREATE TABLE IF NOT EXISTS sandbox_slots (
    name TEXT PRIMARY KEY,
    slot INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS apps (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
";

/// One row per app and stage: `app` for `$default`, `app@stage` otherwise.
fn app_key(app: &AppHttp) -> String {
    stage_key(&app.app, &app.stage)
}

fn stage_key(app: &str, stage: &str) -> String {
    if stage == ondol_core::manifest::DEFAULT_STAGE {
        app.to_string()
    } else {
        format!("{app}@{stage}")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(crate::queue::SCHEMA)?;
        conn.execute_batch(crate::layers::SCHEMA)?;
        conn.execute_batch(crate::keys::SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }
}

impl Store for SqliteStore {
    fn create_function(&self, record: &FunctionRecord) -> Result<()> {
        let json = serde_json::to_string(record)?;
        let conn = self.conn.lock();
        let n = conn.execute(
            "INSERT OR IGNORE INTO functions (name, record) VALUES (?1, ?2)",
            params![record.config.name, json],
        )?;
        if n == 0 {
            return Err(Error::Conflict(format!("Function {}", record.config.name)));
        }
        Ok(())
    }

    fn update_function(&self, record: &FunctionRecord) -> Result<()> {
        let json = serde_json::to_string(record)?;
        let n = self.conn.lock().execute(
            "UPDATE functions SET record = ?2 WHERE name = ?1",
            params![record.config.name, json],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("Function {}", record.config.name)));
        }
        Ok(())
    }

    fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>> {
        let json: Option<String> = self
            .conn
            .lock()
            .query_row(
                "SELECT record FROM functions WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    fn list_functions(&self) -> Result<Vec<FunctionRecord>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT record FROM functions ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    fn delete_function(&self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .lock()
            .execute("DELETE FROM functions WHERE name = ?1", [name])?;
        Ok(n > 0)
    }

    fn sandbox_slot(&self, name: &str) -> Result<u32> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT OR IGNORE INTO sandbox_slots (name, slot) \
             SELECT ?1, COALESCE(MAX(slot) + 1, 0) FROM sandbox_slots",
            [name],
        )?;
        let slot: i64 = conn.query_row(
            "SELECT slot FROM sandbox_slots WHERE name = ?1",
            [name],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(slot).unwrap_or(u32::MAX))
    }

    fn put_app(&self, app: &AppHttp) -> Result<()> {
        let json = serde_json::to_string(app)?;
        self.conn.lock().execute(
            "INSERT INTO apps (name, record) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET record = ?2",
            params![app_key(app), json],
        )?;
        Ok(())
    }

    fn list_apps(&self) -> Result<Vec<AppHttp>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT record FROM apps ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    fn delete_app(&self, name: &str) -> Result<bool> {
        let n = self.conn.lock().execute(
            "DELETE FROM apps WHERE name = ?1 OR substr(name, 1, length(?1) + 1) = ?1 || '@'",
            [name],
        )?;
        Ok(n > 0)
    }

    fn delete_app_stage(&self, name: &str, stage: &str) -> Result<bool> {
        let n = self
            .conn
            .lock()
            .execute("DELETE FROM apps WHERE name = ?1", [stage_key(name, stage)])?;
        Ok(n > 0)
    }

    fn add_deploy(&self, d: &DeployRecord) -> Result<i64> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO deploys (app, record) VALUES (?1, ?2)",
            params![d.app, serde_json::to_string(d)?],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn deploys(&self, app: &str, stage: Option<&str>, limit: usize) -> Result<Vec<DeployRecord>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(
            "SELECT id, record FROM deploys WHERE app = ?1
             AND (?2 IS NULL OR json_extract(record, '$.stage') = ?2)
             ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![app, stage, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row?;
            let mut d: DeployRecord = serde_json::from_str(&json)?;
            d.id = id;
            out.push(d);
        }
        Ok(out)
    }
}
