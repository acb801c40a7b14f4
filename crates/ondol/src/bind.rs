//! Binding a server's listeners, with an error a user can act on when the
//! address is taken: most often by another ondol.

use std::net::SocketAddr;

use anyhow::{anyhow, Result};
use tokio::net::TcpListener;

/// Binds `addr` for `what`, set by `flag` / `env`.
pub async fn bind(addr: SocketAddr, what: &str, flag: &str, env: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow!(
                "cannot serve the {what} on {addr}: the address is already in use. Another ondol \
                 may be running (`ss -ltnp 'sport = :{port}'` names the process). Stop it, or give \
                 this server another address with {flag} (or {env}).",
                port = addr.port()
            )
        } else {
            anyhow!(e).context(format!("binding the {what} on {addr} ({flag})"))
        }
    })
}
