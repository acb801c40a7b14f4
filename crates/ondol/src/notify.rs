//! systemd's notify protocol (`Type=notify` units): a datagram to the socket
//! named by `NOTIFY_SOCKET` saying `READY=1` once the server serves and
//! `STOPPING=1` when it drains. Without the variable nothing is sent.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. `READY=1`) to the service manager, if there is one.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let res = (|| -> std::io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            // An abstract socket: `@` stands for the leading NUL.
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = res {
        tracing::warn!(error = %e, socket = ?path, "could not notify the service manager");
    }
}
