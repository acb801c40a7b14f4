//! The hooks `ondol serve` calls: listeners bound or inherited by name, accept
//! loops held until the handover, and the successor's last steps.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use tokio::net::TcpListener;

use super::{wait_for_lock, warm, Inherited};
use crate::datadir::DataDirLock;

/// The listener `name`: inherited in a takeover, else bound on `addr` (set by
/// `flag` / `env`, named in the error when the address is taken).
pub async fn bind(
    inherited: &mut Option<Inherited>,
    (name, addr): (&str, SocketAddr),
    what: &str,
    (flag, env): (&str, &str),
) -> Result<TcpListener> {
    match inherited {
        Some(i) => i.tcp(name, addr, what).await,
        None => crate::bind::bind(addr, what, flag, env).await,
    }
}

/// A second descriptor of a listener, kept for a successor.
pub fn dup(l: &TcpListener) -> Result<OwnedFd> {
    Ok(l.as_fd().try_clone_to_owned()?)
}

/// Runs `serve` once `go` turns true; never if it is dropped first (a takeover
/// that failed: the old server keeps these sockets).
pub fn gated(
    mut go: tokio::sync::watch::Receiver<bool>,
    serve: impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        if go.wait_for(|g| *g).await.is_err() {
            return Ok(());
        }
        serve.await
    })
}

/// The successor's last steps: warm, have the old server stop accepting, accept,
/// tell systemd this is the main process now, and take the lock (the old server
/// lets go once its in-flight work is done) before delivering events.
pub async fn take_over(
    inh: Inherited,
    api: &ondol_api::Api,
    go: &tokio::sync::watch::Sender<bool>,
    events: &ondol_events::Events,
    data_dir: &Path,
    grace: Duration,
) -> Result<DataDirLock> {
    warm(&api.engine, inh.warm_list(), WARM_LIMIT).await;
    let old = inh.hand_over().await?;
    let _ = go.send(true);
    api.ready.listeners_up();
    crate::notify::notify(&format!("MAINPID={}", std::process::id()));
    tracing::info!(
        old_pid = old,
        "took over the listeners; waiting for the old server to finish"
    );
    let lock = wait_for_lock(data_dir, old, grace + LOCK_SLACK).await?;
    events.release();
    Ok(lock)
}

/// How long a successor warms before taking over anyway.
const WARM_LIMIT: Duration = Duration::from_secs(60);
/// Beyond the old server's grace: its flushes and exit.
const LOCK_SLACK: Duration = Duration::from_secs(30);
