//! API keys as the store keeps them (a hash, never the value) and what the front
//! door is told about them: the [`KeyRing`] the management API fills and reads
//! usage back from.

use serde::{Deserialize, Serialize};

/// One API key. Its value is shown once, at creation; only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public id (10 characters, like API Gateway's), sent to functions as `apiKeyId`.
    pub id: String,
    /// The name it is managed by (`ondol keys revoke NAME`).
    pub name: String,
    /// The value's first characters, to tell keys apart in a list.
    pub prefix: String,
    /// Hex SHA-256 of the value.
    pub hash: String,
    /// The only app it opens (`None`: every app).
    pub app: Option<String>,
    /// A usage plan of `app`.
    pub plan: Option<String>,
    /// RFC 3339, UTC.
    pub created: String,
}

/// Requests a key made in its current quota window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaUse {
    /// Unix seconds at which the window began (its start identifies it).
    pub window: i64,
    pub used: u64,
}

/// The front door's live keys: replaced whole after every change, with counters
/// kept in memory and read back to be stored.
pub trait KeyRing: Send + Sync + 'static {
    /// The keys that are valid from now on (a key left out is revoked at once).
    fn set_keys(&self, keys: Vec<ApiKey>);
    /// Counters read back from the store at startup, by key id.
    fn seed_usage(&self, usage: Vec<(String, QuotaUse)>);
    /// Every key's current counter, by key id; `changed_only` gives just those
    /// counted since the last such call (what a flush must write).
    fn usage(&self, changed_only: bool) -> Vec<(String, QuotaUse)>;
}
