//! Shifting traffic by a canary or linear strategy through the weighted stage
//! alias, under a lease, judging the new version as it goes; stopping early on a
//! signal or when another function of the same deploy rolled back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use ondol_core::manifest::{Rollback, Strategy};

use super::judge::{version_counts, Counts};
use super::lease::{Lease, LEASE_RENEW};
use super::{alias, Switch};
use crate::api::Client;
use crate::progress::Progress;

/// Why shifts in progress should stop early: a signal, or another function of the
/// same deploy rolled back. `None` while they may go on.
pub type Stop = tokio::sync::watch::Receiver<Option<String>>;

/// The stop channel of one deploy; with `signals`, SIGINT and SIGTERM set it.
pub fn stop_channel(
    signals: bool,
) -> Result<(Arc<tokio::sync::watch::Sender<Option<String>>>, Stop)> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(None);
    let tx = Arc::new(tx);
    if signals {
        for (kind, name) in [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
        ] {
            let mut sig = signal(kind)?;
            let weak = Arc::downgrade(&tx);
            tokio::spawn(async move {
                while sig.recv().await.is_some() {
                    let Some(tx) = weak.upgrade() else { return };
                    tx.send_replace(Some(format!("cancelled by {name}")));
                }
            });
        }
    }
    Ok((tx, rx))
}

/// The steps of a strategy: (share of traffic on the new version, how long).
pub fn steps_of(strategy: Strategy) -> Vec<(f64, Duration)> {
    match strategy {
        Strategy::AllAtOnce => Vec::new(),
        Strategy::Canary { share, wait } => vec![(share, wait)],
        Strategy::Linear { step, every } => {
            let n = (1.0 / step).ceil() as usize;
            (1..n)
                .map(|i| ((step * i as f64).min(0.99), every))
                .collect()
        }
    }
}

/// Shifts traffic to the new version by its strategy, watching the new version's
/// error rate and p99 duration; past a threshold, or when told to stop, it goes
/// back to the old version at once and fails with the reason. While the alias is
/// split it holds a lease the server enforces: if this process dies, the server
/// puts the alias back.
pub async fn shift(
    c: &Client,
    s: &Switch,
    strategy: Strategy,
    thresholds: Rollback,
    mut stop: Stop,
    progress: &Progress,
) -> Result<()> {
    let Some(old) = &s.old else {
        return alias::switch_all(c, std::slice::from_ref(s), progress).await;
    };
    let steps = steps_of(strategy);
    if steps.is_empty() {
        alias::put(c, &s.function, &s.alias, &s.new, None).await?;
        progress.done(format!("{}: version {} serves", s.function, s.new));
        return Ok(());
    }
    let base = version_counts(&c.ondol().metrics().await?, &s.function, &s.new);
    let lease = Lease::take(c, s, old).await?;
    let mut watch = Watch {
        c,
        s,
        old,
        base,
        thresholds,
        lease: &lease,
        renewed: Instant::now(),
        progress,
    };
    let n = steps.len();
    for (i, (share, hold)) in steps.into_iter().enumerate() {
        progress.step(format!(
            "{}: {:.0}% on version {} for {:?}",
            s.function,
            share * 100.0,
            s.new,
            hold
        ));
        alias::put(c, &s.function, &s.alias, old, Some((&s.new, share))).await?;
        let label = format!(
            "{}: step {}/{n}, {:.0}% on version {}",
            s.function,
            i + 1,
            share * 100.0,
            s.new
        );
        if let Err(e) = watch.hold(hold, &label, &mut stop).await {
            progress.finish();
            return Err(e);
        }
        progress.done(format!(
            "{}: {:.0}% on version {} held",
            s.function,
            share * 100.0,
            s.new
        ));
    }
    alias::put(c, &s.function, &s.alias, &s.new, None).await?;
    lease.release().await?;
    progress.done(format!("{}: version {} serves", s.function, s.new));
    Ok(())
}

/// One shift's watch over its new version while a step holds.
struct Watch<'a> {
    c: &'a Client,
    s: &'a Switch,
    old: &'a str,
    base: Counts,
    thresholds: Rollback,
    lease: &'a Lease<'a>,
    renewed: Instant,
    progress: &'a Progress,
}

/// How often a holding step shows its progress and the new version's numbers.
const STATUS_EVERY: Duration = Duration::from_secs(5);

impl Watch<'_> {
    /// Holds a step for `hold`, renewing the lease and showing `label`, the time
    /// left and the new version's numbers every few seconds; a stop or a breach
    /// puts the old version back whole (no half-shifted alias is left behind) and
    /// fails.
    async fn hold(&mut self, hold: Duration, label: &str, stop: &mut Stop) -> Result<()> {
        let (c, s, old) = (self.c, self.s, self.old);
        let until = Instant::now() + hold;
        let mut shown = Instant::now();
        while Instant::now() < until {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => {}
            }
            let why = stop.borrow().clone();
            if let Some(why) = why {
                self.back().await?;
                bail!(
                    "{why}: {} went back to version {old}, and version {} gets no traffic",
                    s.function,
                    s.new
                );
            }
            if self.renewed.elapsed() >= LEASE_RENEW {
                self.lease.renew().await?;
                self.renewed = Instant::now();
            }
            let m = c.ondol().metrics().await?;
            let window = version_counts(&m, &s.function, &s.new).since(&self.base);
            if shown.elapsed() >= STATUS_EVERY {
                shown = Instant::now();
                let left = until.saturating_duration_since(shown).as_secs();
                self.progress.status(format!(
                    "{label}, {left}s left; version {}: {}",
                    s.new,
                    window.summary(&self.thresholds)
                ));
            }
            if let Some(why) = window.breach(&self.thresholds) {
                self.back().await?;
                bail!(
                    "rolled back {}: version {} {why}; version {old} serves again",
                    s.function,
                    s.new,
                );
            }
        }
        Ok(())
    }

    /// All traffic back on the old version, and the lease given up.
    async fn back(&self) -> Result<()> {
        alias::put(self.c, &self.s.function, &self.s.alias, self.old, None).await?;
        self.lease.release().await
    }
}
