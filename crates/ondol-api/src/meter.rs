//! The meter: every few seconds (and once more at shutdown) the engine's usage
//! counters and the instances `min_warm` keeps become hourly rows in the usage
//! store, each version under the stage whose alias serves it; then budgets are
//! judged (see `cost`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ondol_telemetry::{UsageRow, UsageStore};

use crate::Api;

/// How the bill is reckoned on this node.
#[derive(Clone)]
pub struct CostConfig {
    pub usage: Arc<UsageStore>,
    /// The AWS region priced (default `us-east-1`).
    pub region: String,
    /// Whether the monthly free tier is subtracted.
    pub free_tier: bool,
    /// The node's monthly budget in USD (`--budget-usd`).
    pub node_budget_usd: Option<f64>,
}

/// How often usage is flushed into the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

impl Api {
    /// Moves the counted usage into the store (blocking: a store read per active
    /// function and one transaction).
    pub fn flush_usage(&self) {
        self.flush_keys();
        let elapsed_ms = {
            let mut last = self.last_flush.lock();
            let ms = last.elapsed().as_millis() as u64;
            *last = Instant::now();
            ms
        };
        let mut rows: Vec<UsageRow> = Vec::new();
        for d in self.engine.drain_usage() {
            rows.push(UsageRow {
                stage: self.stage_of(&d.function, &d.version),
                function: d.function,
                version: d.version,
                memory_mb: d.memory_mb,
                requests: d.requests,
                billed_ms: d.billed_ms,
                provisioned_billed_ms: d.provisioned_billed_ms,
                http_requests: d.http_requests,
                ..Default::default()
            });
        }
        for (function, version, memory_mb, kept) in self.engine.kept_warm() {
            rows.push(UsageRow {
                stage: self.stage_of(&function, &version),
                function,
                version,
                memory_mb,
                provisioned_ms: u64::from(kept) * elapsed_ms,
                ..Default::default()
            });
        }
        if rows.is_empty() {
            return;
        }
        let hour = chrono::Utc::now().timestamp() / 3600;
        if let Err(e) = self.cost.usage.add(hour, &rows) {
            tracing::warn!(error = %e, rows = rows.len(), "could not record usage");
        }
    }

    /// The stage whose alias serves a version (`live` is `$default`), else `""`.
    fn stage_of(&self, function: &str, version: &str) -> String {
        let Ok(Some(f)) = self.store.get_function(function) else {
            return String::new();
        };
        let serves = |a: &ondol_store::AliasRecord| {
            a.function_version == version || a.weights.contains_key(version)
        };
        if f.aliases.get("live").is_some_and(serves) {
            return ondol_core::manifest::DEFAULT_STAGE.to_string();
        }
        f.aliases
            .values()
            .find(|a| serves(a))
            .map(|a| a.name.clone())
            .unwrap_or_default()
    }

    /// Flushes and judges budgets every [`FLUSH_EVERY`] until the server stops.
    pub async fn run_meter(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
                _ = stop.changed() => return,
            }
            let api = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                api.flush_usage();
                api.judge_budgets();
            })
            .await;
        }
    }
}
