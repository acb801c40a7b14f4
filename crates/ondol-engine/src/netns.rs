//! No network at all, for functions set to `network = "none"`: each instance gets
//! a fresh network namespace holding only its own loopback, and the server keeps
//! the instance's Runtime API listener inside it (a socket stays in the namespace
//! it was made in). Lambda runtimes still find their API at `127.0.0.1:port`, and
//! nothing else is reachable, in either direction.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An empty network namespace and a listener inside it.
pub(crate) struct Isolated {
    pub listener: TcpListener,
    /// The namespace, for the instance to enter before exec.
    pub ns: OwnedFd,
}

/// Makes a namespace on a thread of its own, which ends afterwards: a namespace
/// belongs to the thread that unshared it, and a pooled thread would keep it.
pub(crate) async fn isolated() -> io::Result<Isolated> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("ondol-netns".into())
        .spawn(move || {
            let _ = tx.send(make());
        })?;
    rx.await
        .map_err(|_| io::Error::other("the network namespace thread ended early"))?
}

fn make() -> io::Result<Isolated> {
    // SAFETY: unshare only changes this thread's own namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    loopback_up()?;
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let ns = File::open("/proc/thread-self/ns/net")?;
    Ok(Isolated {
        listener,
        ns: ns.into(),
    })
}

/// A new namespace's `lo` starts down.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain datagram socket, owned at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just created and is owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; the ioctls read and write it in place.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_listener_is_alone_in_its_namespace() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let iso = isolated().await.unwrap();
        let addr = iso.listener.local_addr().unwrap();
        // From the host's namespace the port is somebody else's, or nobody's.
        let host = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1));
        if let Ok(s) = host {
            // A host listener that happens to hold the same port: not ours.
            iso.listener.set_nonblocking(true).unwrap();
            assert!(iso.listener.accept().is_err());
            drop(s);
        }
    }
}
