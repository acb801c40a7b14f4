//! Persistence: function and layer records behind the [`Store`] trait (SQLite in WAL
//! mode by default), content-addressed code blobs and layer versions unpacked
//! safely, once, read-only.

pub mod backup;
mod blobs;
mod error;
mod keys;
mod layer_files;
mod layers;
mod queue;
pub mod restore;
mod sqlite;
pub mod unzip;

pub use blobs::{BlobInfo, Blobs};
pub use error::{Error, Result};
pub use keys::KeyStore;
pub use layer_files::{LayerFiles, Staged};
pub use layers::{LayerStore, LayerVersionRecord};
pub use queue::{DeadLetter, EventQueue, QueuedEvent, ScheduleRun, ScheduleState};
pub use sqlite::SqliteStore;
pub use unzip::UnzipLimits;

use std::collections::BTreeMap;

use ondol_core::manifest::AppHttp;
use ondol_core::FunctionConfig;
use serde::{Deserialize, Serialize};

/// One function as stored: its `$LATEST` configuration and code, its published
/// versions, aliases and concurrency settings. One document, written atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub config: FunctionConfig,
    /// Hex sha256 of the code zip; the blob's key.
    pub code_sha256: String,
    pub code_size: u64,
    /// Changes on every update; clients pass it back for optimistic locking.
    pub revision_id: String,
    /// Lambda's time format, e.g. `2024-01-01T00:00:00.000+0000`.
    pub last_modified: String,
    pub tags: BTreeMap<String, String>,
    /// Published versions, oldest first.
    #[serde(default)]
    pub versions: Vec<VersionRecord>,
    /// The number the next published version gets (numbers are never reused).
    #[serde(default = "one")]
    pub next_version: u32,
    #[serde(default)]
    pub aliases: BTreeMap<String, AliasRecord>,
    /// Reserved concurrency: every version's pool maximum; 0 disables the function.
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
    /// Provisioned concurrency by qualifier (a version number or an alias).
    #[serde(default)]
    pub provisioned: BTreeMap<String, ProvisionedRecord>,
    /// Function URL configurations by qualifier (`""` for the unqualified one).
    #[serde(default)]
    pub urls: BTreeMap<String, UrlRecord>,
    /// Async invocation settings by qualifier (`""` for the unqualified one).
    #[serde(default)]
    pub event_configs: BTreeMap<String, EventConfig>,
}

/// How async invocations of a function (or one qualifier) are retried and where
/// their outcome goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventConfig {
    /// Retries after a failed delivery (0–2, default 2).
    pub maximum_retry_attempts: u32,
    /// Events older than this are not retried (60–21600 s, default 6 h).
    pub maximum_event_age_s: u64,
    /// A function ARN that receives a record of each success.
    pub on_success: Option<String>,
    /// A function ARN that receives a record of each final failure; without one,
    /// failures go to ondol's dead-letter store.
    pub on_failure: Option<String>,
    pub last_modified: String,
    /// Whether the retries and the age were given (AWS shows only what was):
    /// records from before this was kept showed both.
    #[serde(default = "given")]
    pub retries_given: bool,
    #[serde(default = "given")]
    pub age_given: bool,
}

fn given() -> bool {
    true
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            maximum_retry_attempts: 2,
            maximum_event_age_s: 6 * 3600,
            on_success: None,
            on_failure: None,
            last_modified: String::new(),
            retries_given: false,
            age_given: false,
        }
    }
}

fn one() -> u32 {
    1
}

/// An immutable published version: a snapshot of code and configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub version: u32,
    pub config: FunctionConfig,
    pub code_sha256: String,
    pub code_size: u64,
    pub revision_id: String,
    pub last_modified: String,
    /// `$LATEST`'s revision when this version was published: a publish with no
    /// change since (not even of the description) returns this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_revision: Option<String>,
}

/// An alias: a name for a version, optionally splitting traffic with a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub name: String,
    pub function_version: String,
    pub description: String,
    /// Additional version → weight in [0, 1].
    pub weights: BTreeMap<String, f64>,
    pub revision_id: String,
    /// Held by a deploy while it shifts traffic through this alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<ShiftLease>,
}

/// A deploy's hold on an alias during a traffic shift: unless the deploy holding
/// `token` keeps renewing it, the server puts the alias back on `revert_to`. Renewals
/// live in memory; the store keeps the lease so a restart does not lose it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftLease {
    pub revert_to: String,
    #[serde(default)]
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionedRecord {
    pub requested: u32,
    pub last_modified: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlRecord {
    pub url_id: String,
    pub auth_type: String,
    pub invoke_mode: String,
    pub cors: Option<serde_json::Value>,
    pub creation_time: String,
    pub last_modified: String,
}

impl FunctionRecord {
    /// A new function at `$LATEST` with nothing published.
    pub fn new(
        config: FunctionConfig,
        code_sha256: String,
        code_size: u64,
        revision_id: String,
        last_modified: String,
        tags: BTreeMap<String, String>,
    ) -> Self {
        Self {
            config,
            code_sha256,
            code_size,
            revision_id,
            last_modified,
            tags,
            versions: Vec::new(),
            next_version: 1,
            aliases: BTreeMap::new(),
            reserved_concurrency: None,
            provisioned: BTreeMap::new(),
            urls: BTreeMap::new(),
            event_configs: BTreeMap::new(),
        }
    }

    /// The async settings that apply to an invocation of `qualifier`.
    pub fn event_config(&self, qualifier: Option<&str>) -> EventConfig {
        qualifier
            .and_then(|q| self.event_configs.get(q))
            .or_else(|| self.event_configs.get(""))
            .cloned()
            .unwrap_or_default()
    }

    pub fn version(&self, v: &str) -> Option<&VersionRecord> {
        let n: u32 = v.parse().ok()?;
        self.versions.iter().find(|r| r.version == n)
    }
}

/// Function state persistence. Implementations must be durable on return.
pub trait Store: LayerStore + KeyStore + Send + Sync + 'static {
    /// Inserts a new function; `Error::Conflict` if the name exists.
    fn create_function(&self, record: &FunctionRecord) -> Result<()>;
    /// Replaces an existing function; `Error::NotFound` if absent.
    fn update_function(&self, record: &FunctionRecord) -> Result<()>;
    fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>>;
    /// All functions, ordered by name.
    fn list_functions(&self) -> Result<Vec<FunctionRecord>>;
    /// Returns whether the function existed.
    fn delete_function(&self, name: &str) -> Result<bool>;
    /// Inserts or replaces the HTTP configuration of one stage of an app.
    fn put_app(&self, app: &AppHttp) -> Result<()>;
    /// All apps, ordered by name.
    fn list_apps(&self) -> Result<Vec<AppHttp>>;
    /// Deletes every stage of an app.
    fn delete_app(&self, name: &str) -> Result<bool>;
    /// Deletes one stage of an app.
    fn delete_app_stage(&self, name: &str, stage: &str) -> Result<bool>;
    /// The function's sandbox number, allocated on first ask and kept for good
    /// (one name, one number; no two names share one).
    fn sandbox_slot(&self, name: &str) -> Result<u32>;
    /// Records a deploy (or rollback) of an app; returns its number.
    fn add_deploy(&self, d: &DeployRecord) -> Result<i64>;
    /// An app's deploys (of one stage, if given), newest first.
    fn deploys(&self, app: &str, stage: Option<&str>, limit: usize) -> Result<Vec<DeployRecord>>;
}

/// One deploy of an app: who, when, which version of each function went live, and
/// how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRecord {
    #[serde(default)]
    pub id: i64,
    pub app: String,
    pub stage: String,
    #[serde(default)]
    pub at_ms: i64,
    pub who: String,
    /// Function → the version live after this deploy.
    pub versions: BTreeMap<String, String>,
    /// `deployed`, `rolled back to #N`, or `failed: <why>`.
    pub outcome: String,
    /// Function → a hash of the code and configuration its version was published
    /// from, so a redeploy of the same stage can skip what has not changed.
    #[serde(default)]
    pub fingerprints: BTreeMap<String, String>,
}
