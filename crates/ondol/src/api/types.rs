//! The shapes of the requests the CLI sends and the answers it reads. Answers
//! default every field the CLI can do without, so a server that omits one is
//! read like the untyped code read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use ondol_store::DeployRecord;

/// A function's settings as a deploy sends them (CreateFunction and
/// UpdateFunctionConfiguration members); also what a version's fingerprint hashes.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionSettings {
    pub runtime: String,
    pub handler: String,
    pub description: String,
    pub memory_size: u32,
    pub ephemeral_storage: Size,
    pub timeout: u64,
    pub environment: Environment,
    pub image_config: ImageConfig,
    pub ondol: OndolSettings,
    pub layers: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Size {
    pub size: u32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    #[serde(default)]
    pub variables: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default)]
    pub entry_point: Vec<String>,
}

/// ondol's own members of a function's configuration.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OndolSettings {
    pub max_concurrency: u32,
    pub min_warm: u32,
    pub idle_timeout_ms: u64,
    pub init_timeout_ms: u64,
    pub slow_init_ms: u64,
    pub max_request_bytes: u64,
    pub max_response_bytes: u64,
    pub queue_depth: u32,
    pub queue_wait_ms: u64,
    pub timeout_ms: u64,
    pub network: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_concurrency: Option<u32>,
}

/// CreateFunction's body.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunction<'a> {
    pub function_name: &'a str,
    pub role: &'a str,
    pub code: Zip<'a>,
    #[serde(flatten)]
    pub settings: &'a FunctionSettings,
}

/// A zip, base64.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Zip<'a> {
    pub zip_file: &'a str,
}

/// UpdateFunctionConfiguration's body: settings that follow a revision.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateConfiguration<'a, S: Serialize> {
    #[serde(flatten)]
    pub settings: &'a S,
    pub revision_id: &'a str,
}

/// UpdateFunctionCode's body.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateCode<'a> {
    pub zip_file: &'a str,
    pub revision_id: &'a str,
}

/// A function's (or version's) configuration as the server answers it.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct FunctionConfiguration {
    pub revision_id: String,
    pub code_sha256: String,
    pub version: String,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub memory_size: Option<u32>,
    pub timeout: Option<u64>,
    pub environment: Option<EnvironmentAnswer>,
    pub image_config_response: Option<ImageConfigResponse>,
    /// ondol's members, given back as they came when `$LATEST` is put back.
    pub ondol: serde_json::Value,
    pub layers: Vec<LayerAnswer>,
}

#[derive(Serialize, Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct EnvironmentAnswer {
    pub variables: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfigResponse {
    pub image_config: Option<ImageConfig>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase", default)]
pub struct LayerAnswer {
    pub arn: String,
}

/// GetFunction's answer.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetFunction {
    pub configuration: FunctionConfiguration,
    pub code: CodeLocation,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CodeLocation {
    pub location: String,
}

/// An alias as the server answers it, and as an update sends it.
#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Alias {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub function_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_config: Option<RoutingConfig>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoutingConfig {
    pub additional_version_weights: BTreeMap<String, f64>,
}

impl Alias {
    /// The versions that get a share besides the main one.
    pub fn weights(&self) -> impl Iterator<Item = &String> {
        self.routing_config
            .iter()
            .flat_map(|r| r.additional_version_weights.keys())
    }
}

/// ListAliases' answer.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AliasList {
    pub aliases: Vec<Alias>,
}

/// PutFunctionEventInvokeConfig's body.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfig {
    pub maximum_retry_attempts: u32,
    pub maximum_event_age_in_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_config: Option<DestinationConfig>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    pub on_success: Destination,
    pub on_failure: Destination,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Destination {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// A layer version's settings (PublishLayerVersion without the zip, and how a
/// published one compares).
#[derive(Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LayerSettings {
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compatible_runtimes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_info: Option<String>,
}

/// PublishLayerVersion's body.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishLayer<'a> {
    #[serde(flatten)]
    pub settings: &'a LayerSettings,
    pub content: Zip<'a>,
}

/// A layer version as the server answers it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct LayerVersion {
    pub version: u64,
    pub layer_version_arn: String,
    pub content: LayerContent,
    #[serde(flatten)]
    pub settings: LayerSettings,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct LayerContent {
    pub code_sha256: String,
}

/// ListLayerVersions' answer.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct LayerVersionList {
    pub layer_versions: Vec<LayerVersion>,
}

/// `/ondol/v1/info`: where the server is and its front door.
#[derive(Deserialize)]
#[serde(default)]
pub struct Info {
    pub region: String,
    pub account: String,
    pub http: String,
}

impl Default for Info {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account: "000000000000".into(),
            http: String::new(),
        }
    }
}

/// `/ondol/v1/metrics`: each function's pools by version.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Metrics {
    pub pools: BTreeMap<String, BTreeMap<String, PoolStats>>,
}

/// One version's pool: instances and counters since the server started.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct PoolStats {
    pub running: u32,
    pub invocations: u64,
    pub errors: u64,
    /// (bucket upper bound in ms, count).
    pub durations: Vec<(f64, u64)>,
}

impl Metrics {
    /// A version's pool, if it has one.
    pub fn pool(&self, function: &str, version: &str) -> Option<&PoolStats> {
        self.pools.get(function)?.get(version)
    }
}

/// Why a version could not be warmed.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct WarmRefusal {
    pub message: Option<String>,
    pub init_log: Vec<String>,
}

/// A new entry of an app's history.
#[derive(Serialize)]
pub struct NewDeploy<'a> {
    pub app: &'a str,
    pub stage: &'a str,
    pub who: &'a str,
    pub versions: &'a BTreeMap<String, String>,
    pub fingerprints: &'a BTreeMap<String, String>,
    pub outcome: &'a str,
}

/// An app's history.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Deploys {
    pub deploys: Vec<DeployRecord>,
}

/// `POST /ondol/v1/apps/APP/rollback`'s answer.
#[derive(Deserialize)]
pub struct RolledBack {
    pub id: i64,
    pub to: i64,
    #[serde(default)]
    pub switched: Vec<Switched>,
}

#[derive(Deserialize)]
pub struct Switched {
    pub function: String,
    pub from: Option<String>,
    pub to: String,
}

/// A page of log lines.
#[derive(Deserialize)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    /// With a request id: whether its END or REPORT line was stored in time.
    pub complete: Option<bool>,
}

#[derive(Deserialize)]
pub struct LogEntry {
    pub seq: i64,
    pub ts_ms: i64,
    #[serde(default, deserialize_with = "super::reports::or_default")]
    pub function: String,
    pub line: String,
}

/// A dead letter's fields the CLI prints (the rest is shown as it came).
#[derive(Deserialize)]
pub struct DeadLetter {
    pub id: i64,
    #[serde(default, deserialize_with = "super::reports::or_default")]
    pub request_id: String,
    pub attempts: u32,
    pub failed_ms: i64,
    #[serde(default)]
    pub record: Option<Record>,
}

impl DeadLetter {
    /// Why the last attempt failed (the record's `requestContext.condition`).
    pub fn condition(&self) -> &str {
        self.record
            .as_ref()
            .and_then(|r| r.request_context.as_ref()?.condition.as_deref())
            .unwrap_or("")
    }
}

/// The destination record of a dead letter, as far as the CLI reads it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Record {
    pub request_context: Option<RecordContext>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RecordContext {
    pub condition: Option<String>,
}

/// `GET /ondol/v1/domains`: each claimed host's DNS and certificate.
#[derive(Serialize, Deserialize)]
pub struct Domains {
    #[serde(rename = "Domains")]
    pub domains: Vec<crate::tls::domains::Report>,
}

/// `POST /ondol/v1/keys`.
#[derive(Serialize)]
pub struct NewKey<'a> {
    pub name: &'a str,
    pub app: Option<&'a str>,
    pub plan: Option<&'a str>,
}

/// An API key as the server shows it; `value` only in the answer to its creation.
#[derive(Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub app: Option<String>,
    pub plan: Option<String>,
    pub created: String,
    #[serde(default)]
    pub quota: Option<ondol_core::manifest::Quota>,
    #[serde(default)]
    pub rate: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `GET /ondol/v1/keys`.
#[derive(Deserialize)]
pub struct KeyList {
    pub keys: Vec<KeyInfo>,
}
