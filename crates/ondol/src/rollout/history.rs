//! The stage's history: who deployed, which versions went live, how it ended.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::api::types::NewDeploy;
use crate::api::Client;

/// Who is deploying, as `user@host`: `$USER`/`$LOGNAME`, else the passwd entry of
/// this process's uid (CI containers often set neither variable).
pub fn who() -> String {
    use std::os::unix::fs::MetadataExt;
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            let uid = std::fs::metadata("/proc/self").ok()?.uid();
            let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
            passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[2] == uid.to_string())
                .map(|f| f[0].to_string())
                .or(Some(format!("uid {uid}")))
        })
        .unwrap_or_else(|| "unknown".into());
    match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(h) if !h.trim().is_empty() => format!("{user}@{}", h.trim()),
        _ => user,
    }
}

/// Adds an entry to the app's history; returns its number.
pub async fn record(
    c: &Client,
    app: &str,
    stage: &str,
    versions: &BTreeMap<String, String>,
    fingerprints: &BTreeMap<String, String>,
    outcome: &str,
) -> Result<i64> {
    let who = who();
    c.ondol()
        .record_deploy(&NewDeploy {
            app,
            stage,
            who: &who,
            versions,
            fingerprints,
            outcome,
        })
        .await
}

/// Whether a history entry is a deploy that failed (and so never went live).
pub fn failed(d: &crate::api::types::DeployRecord) -> bool {
    d.outcome.starts_with("failed")
}
