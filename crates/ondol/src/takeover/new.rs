//! The successor's side: takes the listeners, warms what was warm, asks for the
//! handover and waits for the data dir lock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ondol_engine::Engine;

use super::{fds, Ask, Offer, Stopped, SOCKET};
use crate::datadir::{self, DataDirLock};

/// What the running server handed over: its sockets by name, and its warm versions.
pub struct Inherited {
    stream: UnixStream,
    pub old_pid: u32,
    listeners: HashMap<String, OwnedFd>,
    warm: Vec<(String, String, u32)>,
}

impl Inherited {
    /// Connects to the server running on `data_dir` and takes its listeners.
    pub fn connect(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(SOCKET);
        let stream = UnixStream::connect(&path).with_context(|| {
            format!(
                "--takeover: no running server answers on {} (is one serving this --data-dir?)",
                path.display()
            )
        })?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let ask = Ask::Listeners {
            pid: std::process::id(),
        };
        fds::send(&stream, &serde_json::to_string(&ask)?, &[])?;
        let (line, got) = fds::recv(&stream).context("--takeover: receiving the listeners")?;
        let offer: Offer = serde_json::from_str(&line).context("--takeover: the offer")?;
        if offer.listeners.len() != got.len() {
            bail!(
                "--takeover: {} listeners named but {} sockets received",
                offer.listeners.len(),
                got.len()
            );
        }
        tracing::info!(pid = offer.pid, listeners = ?offer.listeners, "taking over: received the listening sockets");
        Ok(Self {
            stream,
            old_pid: offer.pid,
            listeners: offer.listeners.into_iter().zip(got).collect(),
            warm: offer.warm,
        })
    }

    /// The inherited listener `name` when it is on `addr` (port 0: any), else a
    /// new one bound on `addr`.
    pub async fn tcp(
        &mut self,
        name: &str,
        addr: SocketAddr,
        what: &str,
    ) -> Result<tokio::net::TcpListener> {
        if let Some(fd) = self.listeners.remove(name) {
            let l = std::net::TcpListener::from(fd);
            let here = l.local_addr()?;
            if here == addr || (addr.port() == 0 && here.ip() == addr.ip()) {
                l.set_nonblocking(true)?;
                return Ok(tokio::net::TcpListener::from_std(l)?);
            }
            tracing::warn!(listener = name, was = %here, now = %addr, "the address changed: binding the new one");
        }
        tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the {what} on {addr}"))
    }

    /// The versions the old process had ready, with how many instances.
    pub fn warm_list(&self) -> &[(String, String, u32)] {
        &self.warm
    }

    /// Asks the old process to stop accepting; returns once it has.
    pub async fn hand_over(self) -> Result<u32> {
        let pid = self.old_pid;
        let stream = self.stream;
        tokio::task::spawn_blocking(move || -> Result<()> {
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            fds::send(&stream, &serde_json::to_string(&Ask::Handover)?, &[])?;
            let (line, _) = fds::recv(&stream)?;
            let s: Stopped = serde_json::from_str(&line)?;
            anyhow::ensure!(s.stopped, "the old process refused");
            Ok(())
        })
        .await?
        .with_context(|| format!("--takeover: pid {pid} did not hand over"))?;
        Ok(pid)
    }
}

/// Starts what `min_warm` asks and what the old process had ready (never above a
/// version's concurrency), and waits until they are ready or `limit` passes.
pub async fn warm(engine: &Engine, old: &[(String, String, u32)], limit: Duration) {
    let had: HashMap<(&str, &str), u32> = old
        .iter()
        .map(|(f, v, n)| ((f.as_str(), v.as_str()), *n))
        .collect();
    let mut starts = Vec::new();
    for (f, v, floor, _) in engine.warmth() {
        let before = had.get(&(f.as_str(), v.as_str())).copied().unwrap_or(0);
        let max = engine.max_concurrency(&f, &v).unwrap_or(1);
        let want = floor.max(before).min(max);
        if want > 0 {
            let e = engine.clone();
            starts.push(tokio::spawn(async move {
                if let Err(err) = e.warm(&f, &v, want).await {
                    tracing::warn!(function = %f, version = %v, error = %err.message(), "could not warm before taking over");
                }
            }));
        }
    }
    let all = async {
        for s in starts {
            let _ = s.await;
        }
    };
    if tokio::time::timeout(limit, all).await.is_err() {
        tracing::warn!(?limit, "warming took too long: taking over anyway");
    }
}

/// Takes the data dir lock once the old process (`old_pid`) has let it go.
pub async fn wait_for_lock(data_dir: &Path, old_pid: u32, limit: Duration) -> Result<DataDirLock> {
    let deadline = Instant::now() + limit;
    loop {
        match datadir::lock(data_dir) {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| {
                    format!("--takeover: the old server (pid {old_pid}) still holds the data dir after {limit:?}")
                })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
