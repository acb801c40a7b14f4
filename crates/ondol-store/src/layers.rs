//! Layer version records: one row per published version, numbered from a per-name
//! counter that only grows, so a number is never given twice, even after a delete.
//! A deleted version stays (marked) while a function still references it.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::{Result, SqliteStore};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS layer_names (
    name TEXT PRIMARY KEY,
    next_version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layer_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
";

/// One published layer version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerVersionRecord {
    pub name: String,
    /// Given by the store on publish.
    pub version: u32,
    pub description: String,
    pub compatible_runtimes: Option<Vec<String>>,
    pub compatible_architectures: Option<Vec<String>>,
    pub license_info: Option<String>,
    /// Hex sha256 of the zip.
    pub code_sha256: String,
    /// The zip's size (Lambda's `CodeSize`).
    pub code_size: u64,
    /// Bytes the zip unpacked to (counted against the 250 MB limit).
    pub unzipped_size: u64,
    /// Lambda's time format.
    pub created: String,
    /// Deleted by DeleteLayerVersion, kept while functions reference it.
    #[serde(default)]
    pub deleted: bool,
}

/// Layer version persistence (part of every [`crate::Store`]).
pub trait LayerStore {
    /// Stores `rec` under the name's next version number and returns that number.
    fn publish_layer(&self, rec: &LayerVersionRecord) -> Result<u32>;
    /// One version, deleted or not.
    fn layer_version(&self, name: &str, version: u32) -> Result<Option<LayerVersionRecord>>;
    /// Every stored version of every layer (deleted ones included), by name then version.
    fn layer_versions(&self) -> Result<Vec<LayerVersionRecord>>;
    /// Marks a version deleted; returns whether it was live.
    fn delete_layer_version(&self, name: &str, version: u32) -> Result<bool>;
    /// Forgets a version's record (its number stays used).
    fn purge_layer_version(&self, name: &str, version: u32) -> Result<()>;
}

impl LayerStore for SqliteStore {
    fn publish_layer(&self, rec: &LayerVersionRecord) -> Result<u32> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO layer_names (name, next_version) VALUES (?1, 1)",
            [&rec.name],
        )?;
        let n: i64 = tx.query_row(
            "SELECT next_version FROM layer_names WHERE name = ?1",
            [&rec.name],
            |r| r.get(0),
        )?;
        let version = u32::try_from(n).unwrap_or(u32::MAX);
        let mut rec = rec.clone();
        rec.version = version;
        tx.execute(
            "UPDATE layer_names SET next_version = ?2 WHERE name = ?1",
            params![rec.name, n + 1],
        )?;
        tx.execute(
            "INSERT INTO layer_versions (name, version, record) VALUES (?1, ?2, ?3)",
            params![rec.name, n, serde_json::to_string(&rec)?],
        )?;
        tx.commit()?;
        Ok(version)
    }

    fn layer_version(&self, name: &str, version: u32) -> Result<Option<LayerVersionRecord>> {
        let row: Option<(String, bool)> = self
            .conn
            .lock()
            .query_row(
                "SELECT record, deleted FROM layer_versions WHERE name = ?1 AND version = ?2",
                params![name, version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(decode).transpose()
    }

    fn layer_versions(&self) -> Result<Vec<LayerVersionRecord>> {
        let conn = self.conn.lock();
        let mut stmt =
            conn.prepare("SELECT record, deleted FROM layer_versions ORDER BY name, version")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode(row?)?);
        }
        Ok(out)
    }

    fn delete_layer_version(&self, name: &str, version: u32) -> Result<bool> {
        let n = self.conn.lock().execute(
            "UPDATE layer_versions SET deleted = 1 WHERE name = ?1 AND version = ?2 AND deleted = 0",
            params![name, version],
        )?;
        Ok(n > 0)
    }

    fn purge_layer_version(&self, name: &str, version: u32) -> Result<()> {
        self.conn.lock().execute(
            "DELETE FROM layer_versions WHERE name = ?1 AND version = ?2",
            params![name, version],
        )?;
        Ok(())
    }
}

fn decode((json, deleted): (String, bool)) -> Result<LayerVersionRecord> {
    let mut rec: LayerVersionRecord = serde_json::from_str(&json)?;
    rec.deleted = deleted;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str) -> LayerVersionRecord {
        LayerVersionRecord {
            name: name.into(),
            version: 0,
            description: String::new(),
            compatible_runtimes: None,
            compatible_architectures: None,
            license_info: None,
            code_sha256: "00".into(),
            code_size: 1,
            unzipped_size: 1,
            created: String::new(),
            deleted: false,
        }
    }

    #[test]
    fn numbers_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("db")).unwrap();
        assert_eq!(s.publish_layer(&rec("a")).unwrap(), 1);
        assert_eq!(s.publish_layer(&rec("a")).unwrap(), 2);
        assert_eq!(s.publish_layer(&rec("b")).unwrap(), 1);
        assert!(s.delete_layer_version("a", 2).unwrap());
        assert!(!s.delete_layer_version("a", 2).unwrap());
        assert!(s.layer_version("a", 2).unwrap().unwrap().deleted);
        s.purge_layer_version("a", 2).unwrap();
        s.purge_layer_version("a", 1).unwrap();
        assert_eq!(s.publish_layer(&rec("a")).unwrap(), 3);
        assert_eq!(s.layer_versions().unwrap().len(), 2);
    }
}
