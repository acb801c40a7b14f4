//! Persistence: function records behind the [`Store`] trait (SQLite in WAL mode by
//! default) and content-addressed code blobs unpacked safely, once, read-only.

mod blobs;
mod error;
mod sqlite;
pub mod unzip;

pub use blobs::{BlobInfo, Blobs};
pub use error::{Error, Result};
pub use sqlite::SqliteStore;
pub use unzip::UnzipLimits;

use ondol_core::FunctionConfig;
use serde::{Deserialize, Serialize};

/// One function as stored: its `$LATEST` configuration and code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub config: FunctionConfig,
    /// Hex sha256 of the code zip; the blob's key.
    pub code_sha256: String,
    pub code_size: u64,
    /// Changes on every update; clients pass it back for optimistic locking.
    pub revision_id: String,
    /// RFC 3339 time of the last change.
    pub last_modified: String,
    pub tags: std::collections::BTreeMap<String, String>,
}

/// Function state persistence. Implementations must be durable on return.
pub trait Store: Send + Sync + 'static {
    /// Inserts a new function; `Error::Conflict` if the name exists.
    fn create_function(&self, record: &FunctionRecord) -> Result<()>;
    /// Replaces an existing function; `Error::NotFound` if absent.
    fn update_function(&self, record: &FunctionRecord) -> Result<()>;
    fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>>;
    /// All functions, ordered by name.
    fn list_functions(&self) -> Result<Vec<FunctionRecord>>;
    /// Returns whether the function existed.
    fn delete_function(&self, name: &str) -> Result<bool>;
}
