//! API keys (their hash, never their value) and each key's quota counter, which
//! the front door counts in memory and the API flushes here every few seconds.

use ondol_core::keys::{ApiKey, QuotaUse};
use rusqlite::{params, OptionalExtension};

use crate::{Error, Result, SqliteStore};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_key_usage (
    id TEXT PRIMARY KEY,
    win_start INTEGER NOT NULL,
    used INTEGER NOT NULL
);
";

/// API key persistence (part of every [`crate::Store`]).
pub trait KeyStore {
    /// `Error::Conflict` if a key has this name.
    fn create_key(&self, key: &ApiKey) -> Result<()>;
    /// Every key, by name.
    fn list_keys(&self) -> Result<Vec<ApiKey>>;
    /// Deletes a key and its counter; the key, if there was one.
    fn delete_key(&self, name: &str) -> Result<Option<ApiKey>>;
    /// Every key's last flushed counter, by key id.
    fn key_usage(&self) -> Result<Vec<(String, QuotaUse)>>;
    /// Writes counters in one transaction; counters of deleted keys are dropped.
    fn put_key_usage(&self, usage: &[(String, QuotaUse)]) -> Result<()>;
}

impl KeyStore for SqliteStore {
    fn create_key(&self, key: &ApiKey) -> Result<()> {
        let json = serde_json::to_string(key)?;
        let n = self.conn.lock().execute(
            "INSERT OR IGNORE INTO api_keys (name, record) VALUES (?1, ?2)",
            params![key.name, json],
        )?;
        if n == 0 {
            return Err(Error::Conflict(format!("API key {}", key.name)));
        }
        Ok(())
    }

    fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT record FROM api_keys ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    fn delete_key(&self, name: &str) -> Result<Option<ApiKey>> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let rec: Option<String> = tx
            .query_row("SELECT record FROM api_keys WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(rec) = rec else { return Ok(None) };
        let key: ApiKey = serde_json::from_str(&rec)?;
        tx.execute("DELETE FROM api_keys WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM api_key_usage WHERE id = ?1", [&key.id])?;
        tx.commit()?;
        Ok(Some(key))
    }

    fn key_usage(&self) -> Result<Vec<(String, QuotaUse)>> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT id, win_start, used FROM api_key_usage")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                QuotaUse {
                    window: r.get(1)?,
                    used: r.get::<_, i64>(2)?.max(0) as u64,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn put_key_usage(&self, usage: &[(String, QuotaUse)]) -> Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let live: Vec<String> = {
            let mut stmt = tx.prepare("SELECT record FROM api_keys")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut ids = Vec::new();
            for row in rows {
                ids.push(serde_json::from_str::<ApiKey>(&row?)?.id);
            }
            ids
        };
        for (id, u) in usage.iter().filter(|(id, _)| live.contains(id)) {
            tx.execute(
                "INSERT INTO api_key_usage (id, win_start, used) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET win_start = ?2, used = ?3",
                params![id, u.window, i64::try_from(u.used).unwrap_or(i64::MAX)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ApiKey {
        ApiKey {
            id: format!("id-{name}"),
            name: name.into(),
            prefix: "abcd".into(),
            hash: "00".into(),
            app: None,
            plan: None,
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn keys_and_usage_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("db")).unwrap();
        s.create_key(&key("a")).unwrap();
        assert!(matches!(s.create_key(&key("a")), Err(Error::Conflict(_))));
        let u = QuotaUse {
            window: 86_400,
            used: 7,
        };
        s.put_key_usage(&[("id-a".into(), u), ("id-gone".into(), u)])
            .unwrap();
        assert_eq!(s.key_usage().unwrap(), vec![("id-a".to_string(), u)]);
        assert_eq!(s.delete_key("a").unwrap().unwrap().id, "id-a");
        assert!(s.key_usage().unwrap().is_empty());
        assert!(s.list_keys().unwrap().is_empty());
    }
}
