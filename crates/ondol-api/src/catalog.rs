//! The function catalog: records in the store, pools and qualifier routing in the
//! engine, kept in step, so an Invoke resolves `name:qualifier` (aliases and their
//! weights included) without touching the store.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ondol_core::FunctionConfig;
use ondol_engine::{AliasRoute, FunctionSpec};
use ondol_store::FunctionRecord;

use crate::error::{ApiError, Result};
use crate::Api;

/// Tells the engine which qualifiers of a record are invocable.
fn set_routing(api: &Api, rec: &FunctionRecord) {
    let mut versions: HashSet<String> =
        rec.versions.iter().map(|v| v.version.to_string()).collect();
    versions.insert("$LATEST".into());
    let aliases = rec
        .aliases
        .values()
        .map(|a| {
            let additional = a.weights.iter().next().map(|(v, w)| (v.clone(), *w));
            (
                a.name.clone(),
                AliasRoute {
                    primary: a.function_version.clone(),
                    additional,
                },
            )
        })
        .collect();
    api.engine.set_routing(&rec.config.name, versions, aliases);
}

/// The version a qualifier names in a record (an alias resolves to its primary).
pub fn version_of(rec: &FunctionRecord, qualifier: &str) -> Option<String> {
    if qualifier == "$LATEST" || rec.version(qualifier).is_some() {
        return Some(qualifier.to_string());
    }
    rec.aliases
        .get(qualifier)
        .map(|a| a.function_version.clone())
}

/// A version's concurrency limit and warm floor: reserved concurrency overrides the
/// configured maximum, less what other versions hold provisioned (Lambda counts
/// provisioned instances against the reservation); provisioned concurrency (on the
/// version or an alias of it) raises the floor.
pub fn effective_limits(rec: &FunctionRecord, version: &str, cfg: &FunctionConfig) -> (u32, u32) {
    let elsewhere: u32 = rec
        .provisioned
        .iter()
        .filter(|(q, _)| version_of(rec, q).as_deref() != Some(version))
        .map(|(_, p)| p.requested)
        .sum();
    let max = rec
        .reserved_concurrency
        .map_or(cfg.limits.max_concurrency, |r| r.saturating_sub(elsewhere));
    let provisioned = rec
        .provisioned
        .iter()
        .filter(|(q, _)| version_of(rec, q).as_deref() == Some(version))
        .map(|(_, p)| p.requested)
        .max()
        .unwrap_or(0);
    // `min_warm` keeps warm what serves traffic: the versions aliases point at (or
    // weight) and a Function URL's target, or `$LATEST` while the function has
    // neither aliases nor published versions; a superseded version scales to zero.
    let by_alias = rec
        .aliases
        .values()
        .any(|a| a.function_version == version || a.weights.contains_key(version));
    let by_url = rec.urls.keys().any(|q| {
        if q.is_empty() {
            version == "$LATEST"
        } else {
            version_of(rec, q).as_deref() == Some(version)
        }
    });
    let plain = version == "$LATEST" && rec.aliases.is_empty() && rec.versions.is_empty();
    let served = by_alias || by_url || plain;
    let min_warm = if served { cfg.limits.min_warm } else { 0 };
    (max, min_warm.max(provisioned).min(max))
}

/// Every invocable version of a record with its configuration and code.
fn versions(rec: &FunctionRecord) -> Vec<(String, &FunctionConfig, &str)> {
    let mut out = vec![("$LATEST".to_string(), &rec.config, rec.code_sha256.as_str())];
    out.extend(
        rec.versions
            .iter()
            .map(|v| (v.version.to_string(), &v.config, v.code_sha256.as_str())),
    );
    out
}

impl Api {
    pub(crate) async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::Service(e.to_string()))?
    }

    pub(crate) fn not_found(&self, name: &str, qualifier: Option<&str>) -> ApiError {
        ApiError::NotFound(format!(
            "Function not found: {}",
            self.engine.arn().qualified(name, qualifier)
        ))
    }

    /// The stored record of `name`, or ResourceNotFoundException.
    pub(crate) async fn load(&self, name: &str) -> Result<FunctionRecord> {
        let (store, n) = (self.store.clone(), name.to_string());
        Self::blocking(move || Ok(store.get_function(&n)?))
            .await?
            .ok_or_else(|| self.not_found(name, None))
    }

    async fn deploy(
        &self,
        rec: &FunctionRecord,
        version: &str,
        cfg: &FunctionConfig,
        sha: &str,
    ) -> Result<()> {
        let (blobs, sha) = (self.blobs.clone(), sha.to_string());
        let code_dir = Self::blocking(move || Ok(blobs.code_dir_checked(&sha)?)).await?;
        let (store, name) = (self.store.clone(), cfg.name.clone());
        let sandbox_slot = Self::blocking(move || Ok(store.sandbox_slot(&name)?)).await?;
        let opt_dir = crate::layer_use::opt_dir(self, &cfg.layers).await?;
        let mut config = cfg.clone();
        let (max, warm) = effective_limits(rec, version, cfg);
        config.limits.max_concurrency = max;
        config.limits.min_warm = warm;
        self.engine
            .deploy(FunctionSpec {
                config,
                version: version.to_string(),
                code_dir,
                sandbox_slot,
                opt_dir,
            })
            .await
            .map_err(ApiError::Service)
    }

    /// Brings the engine and the routing table in line with a record change:
    /// new or changed versions get pools, removed ones lose them, limits move in place.
    pub(crate) async fn sync(
        &self,
        old: Option<&FunctionRecord>,
        new: Option<&FunctionRecord>,
    ) -> Result<()> {
        let Some(new) = new else {
            if let Some(old) = old {
                self.engine.remove(&old.config.name, None);
                self.sweep_if_dropped(Some(old), None).await;
            }
            return Ok(());
        };
        let name = &new.config.name;
        let before: HashMap<String, (&FunctionConfig, &str)> = old
            .map(|o| {
                versions(o)
                    .into_iter()
                    .map(|(v, c, s)| (v, (c, s)))
                    .collect()
            })
            .unwrap_or_default();
        let after = versions(new);
        for (v, cfg, sha) in &after {
            match before.get(v) {
                Some((c, s)) if *c == *cfg && s == sha => {
                    let (max, warm) = effective_limits(new, v, cfg);
                    self.engine.set_limits(name, v, max, warm);
                }
                _ => self.deploy(new, v, cfg, sha).await?,
            }
        }
        for v in before.keys() {
            if !after.iter().any(|(a, _, _)| a == v) {
                self.engine.remove(name, Some(v));
            }
        }
        set_routing(self, new);
        self.sweep_if_dropped(old, Some(new)).await;
        Ok(())
    }

    /// After a change that stopped using a layer list (the store already holds
    /// the new record): frees deleted layer versions and merged views nothing uses.
    async fn sweep_if_dropped(&self, old: Option<&FunctionRecord>, new: Option<&FunctionRecord>) {
        if crate::layer_use::dropped_layers(old, new) {
            if let Err(e) = crate::layer_use::sweep(self).await {
                tracing::warn!(error = %e, "could not clean up unused layers");
            }
        }
    }

    /// Loads every stored function into the engine at start-up.
    pub async fn restore(self: &Arc<Self>) -> std::result::Result<usize, String> {
        let store = self.store.clone();
        let all = tokio::task::spawn_blocking(move || store.list_functions())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        for rec in &all {
            if let Err(e) = self.sync(None, Some(rec)).await {
                tracing::error!(function = %rec.config.name, error = %e, "could not restore function");
            }
        }
        self.publish_front().await.map_err(|e| e.to_string())?;
        self.restore_keys().await.map_err(|e| e.to_string())?;
        self.events.resume();
        self.watch_leases(&all);
        Ok(all.len())
    }

    /// Applies `f` to a function's record under the write lock, stores the result
    /// and syncs the engine; on failure the old record is put back.
    pub(crate) async fn mutate<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce(&mut FunctionRecord) -> Result<T>,
    ) -> Result<(FunctionRecord, T)> {
        let _w = self.writes.lock().await;
        let old = self.load(name).await?;
        let mut new = old.clone();
        let out = f(&mut new)?;
        if new == old {
            return Ok((new, out));
        }
        self.put(&new).await?;
        if let Err(e) = self.sync(Some(&old), Some(&new)).await {
            self.put(&old).await?;
            let _ = self.sync(Some(&new), Some(&old)).await;
            return Err(e);
        }
        Ok((new, out))
    }

    async fn put(&self, rec: &FunctionRecord) -> Result<()> {
        let (store, r) = (self.store.clone(), rec.clone());
        Self::blocking(move || Ok(store.update_function(&r)?)).await
    }

    /// Stores a new function and installs it; `ResourceConflictException` if it exists.
    pub(crate) async fn insert(&self, rec: FunctionRecord) -> Result<FunctionRecord> {
        let _w = self.writes.lock().await;
        let (store, r) = (self.store.clone(), rec.clone());
        Self::blocking(move || Ok(store.create_function(&r)?)).await?;
        if let Err(e) = self.sync(None, Some(&rec)).await {
            let (store, n) = (self.store.clone(), rec.config.name.clone());
            let _ = Self::blocking(move || Ok(store.delete_function(&n)?)).await;
            self.engine.remove(&rec.config.name, None);
            return Err(e);
        }
        Ok(rec)
    }

    /// Deletes a whole function.
    pub(crate) async fn remove(&self, name: &str) -> Result<()> {
        let _w = self.writes.lock().await;
        let old = self.load(name).await?;
        let (store, n) = (self.store.clone(), name.to_string());
        Self::blocking(move || Ok(store.delete_function(&n)?)).await?;
        self.sync(Some(&old), None).await?;
        if !old.urls.is_empty() {
            self.publish_front().await?;
        }
        Ok(())
    }
}
