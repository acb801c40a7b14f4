//! What `GET /ondol/v1/status` answers and `ondol status` prints: apps with their
//! stages, hosts and routes; functions with their aliases, instances, and what
//! they did over the last 5 minutes and the last hour.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub apps: Vec<AppStatus>,
    pub functions: Vec<FunctionStatus>,
}

/// One stage of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    pub app: String,
    pub stage: String,
    pub hosts: Vec<String>,
    pub routes: Vec<RouteStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteStatus {
    /// `GET /items/{id}`, `$default`.
    pub route: String,
    /// The route's own host, if it has one.
    pub host: Option<String>,
    pub function: String,
    pub qualifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionStatus {
    pub name: String,
    pub runtime: String,
    pub memory_mb: u32,
    /// Published versions, oldest first.
    pub versions: Vec<String>,
    pub aliases: Vec<AliasStatus>,
    pub instances: Instances,
    pub last_5m: Summary,
    pub last_hour: Summary,
}

/// An alias and the share of traffic each of its versions gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasStatus {
    pub name: String,
    /// Version → weight in [0, 1]; one version at 1.0 unless traffic is split.
    pub weights: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instances {
    /// Started and free (warm).
    pub idle: u32,
    pub busy: u32,
    pub starting: u32,
}

/// What a function (or one version) did over a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub invocations: u64,
    /// Function errors, crashes, failed inits and timeouts.
    pub errors: u64,
    pub throttles: u64,
    pub cold_starts: u64,
    /// The upper bound of the bucket holding the percentile: at most 20 % above it.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Median init duration of the cold starts.
    pub init_p50_ms: Option<f64>,
}

/// One of a function's last invocations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentInvocation {
    pub request_id: String,
    pub version: String,
    /// When it ended, ms since the epoch.
    pub ts_ms: i64,
    pub duration_ms: f64,
    /// The init it waited for (a cold start).
    pub init_ms: Option<f64>,
    /// `success`, `error` or `timeout`.
    pub outcome: String,
}
