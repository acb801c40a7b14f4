//! Moving traffic between versions safely, shared by `deploy` (and `up`, `dev`),
//! `remove` and `logs --stage`: warm the new versions, switch each function's
//! stage alias (`live` for `$default`, else the stage's name) only when all are
//! warm, or shift by weights under a lease while judging the new version; roll
//! the whole deploy back if one function does; drain the old versions; record
//! the outcome in the stage's history.

pub mod alias;
pub mod history;
mod judge;
pub mod latest;
mod lease;
pub mod publish;
mod shift;

use std::sync::Mutex;

use anyhow::{bail, Result};
use ondol_core::manifest::{Rollback, Strategy};

use crate::api::types::Metrics;
use crate::api::Client;
use crate::progress::Progress;

/// One function's move from `old` to `new` through `alias`.
pub struct Switch {
    pub function: String,
    pub alias: String,
    pub new: String,
    pub old: Option<String>,
}

/// A switch with how it shifts and when it rolls back.
pub struct Move {
    pub switch: Switch,
    pub strategy: Strategy,
    pub rollback: Rollback,
    /// Instances the new version starts with before any traffic reaches it.
    pub warm: u32,
}

/// Instances a version is running now (from the server's metrics).
pub fn running(metrics: &Metrics, name: &str, version: Option<&str>) -> u32 {
    version
        .and_then(|v| metrics.pool(name, v))
        .map_or(0, |p| p.running)
}

/// Starts `count` instances of a version and waits for their init; a failure
/// carries the version's init log.
pub async fn warm(
    c: &Client,
    name: &str,
    version: &str,
    count: u32,
    progress: &Progress,
) -> Result<()> {
    let began = std::time::Instant::now();
    progress.step(format!(
        "warming {name} version {version} ({count} instance(s))"
    ));
    if let Err(refusal) = c.ondol().warm(name, version, count).await? {
        progress.finish();
        bail!(
            "{}\nnothing was switched: the previous versions keep serving.\ninit log of {name} version {version}:\n  {}",
            refusal.message.as_deref().unwrap_or("the new version failed to start"),
            refusal.init_log.join("\n  ")
        );
    }
    progress.done_since(format!("{name}: version {version} warm ({count})"), began);
    Ok(())
}

/// Puts the moves live: every new version starts at once and nothing switches
/// unless all did; then the functions shift side by side. If one rolls back (or
/// the deploy is cancelled), the others stop too and the whole deploy goes back:
/// every function serves the version it served before.
pub async fn go_live(c: &Client, moves: &[Move], progress: &Progress) -> Result<()> {
    futures_util::future::try_join_all(
        moves
            .iter()
            .map(|m| warm(c, &m.switch.function, &m.switch.new, m.warm, progress)),
    )
    .await?;
    let gradual = moves
        .iter()
        .any(|m| m.switch.old.is_some() && !shift::steps_of(m.strategy).is_empty());
    let (stop_tx, stop_rx) = shift::stop_channel(gradual)?;
    let first_failure = Mutex::new(None::<String>);
    let outcomes = futures_util::future::join_all(moves.iter().map(|m| {
        let (stop_tx, stop_rx, first_failure) = (&stop_tx, stop_rx.clone(), &first_failure);
        async move {
            let sw = &m.switch;
            let r = shift::shift(c, sw, m.strategy, m.rollback, stop_rx, progress).await;
            if let Err(e) = &r {
                let mut first = first_failure.lock().unwrap_or_else(|p| p.into_inner());
                if first.is_none() {
                    *first = Some(e.to_string());
                    stop_tx.send_if_modified(|why| {
                        why.is_none()
                            .then(|| {
                                *why = Some(format!("stopped because {} rolled back", sw.function))
                            })
                            .is_some()
                    });
                }
            }
            r
        }
    }))
    .await;
    if outcomes.iter().any(Result::is_err) {
        let root = first_failure
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_default();
        bail!(roll_back_whole(c, moves, root).await);
    }
    Ok(())
}

/// Every function that had a version before serves it again; the message says
/// why (`root`), what serves again and what could not be put back.
async fn roll_back_whole(c: &Client, moves: &[Move], root: String) -> String {
    let mut back = Vec::new();
    let mut trouble = Vec::new();
    for sw in moves.iter().map(|m| &m.switch) {
        if let Some(old) = &sw.old {
            match alias::set_plain(c, &sw.function, &sw.alias, old).await {
                Ok(()) => back.push(format!("{} version {old}", sw.function)),
                Err(e) => trouble.push(format!("{}: {e}", sw.function)),
            }
        }
    }
    let mut msg = root;
    if back.len() > 1 {
        msg.push_str(&format!(
            "; the deploy was rolled back whole: {} serve again",
            back.join(", ")
        ));
    }
    if !trouble.is_empty() {
        msg.push_str(&format!("; could not put back: {}", trouble.join("; ")));
    }
    msg
}
