//! Who is on the other end of an accepted loopback TCP connection: the uid that
//! owns the client's socket, read from the kernel's socket table
//! (`/proc/net/tcp`, `/proc/net/tcp6`). Sandboxed functions each have their own
//! uid, so this tells one function (or the server) from another.

use std::net::{IpAddr, SocketAddr};

/// The uid owning the socket at `peer` connected to our `local`, if found: asked
/// of the kernel for that one socket (sock_diag), else read from its table.
pub fn peer_uid(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    diag_uid(local, peer).or_else(|| table_uid(local, peer))
}

/// One exact sock_diag lookup: constant time however many sockets the host has
/// (a scan of `/proc/net/tcp` grows with them and can miss a line being changed).
fn diag_uid(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    let family = match peer {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let mut req = Vec::with_capacity(72);
    req.extend_from_slice(&72u32.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    req.extend_from_slice(&[0; 8]); // seq, pid
    req.extend_from_slice(&[family as u8, libc::IPPROTO_TCP as u8, 0, 0]);
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
                                                    // The client's socket: its source is the peer, its destination us.
    req.extend_from_slice(&peer.port().to_be_bytes());
    req.extend_from_slice(&local.port().to_be_bytes());
    req.extend_from_slice(&ip16(peer.ip()));
    req.extend_from_slice(&ip16(local.ip()));
    req.extend_from_slice(&[0; 4]); // any interface
    req.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
    let reply = ask_kernel(&req)?;
    // nlmsghdr (16), then inet_diag_msg: 4 bytes, sockid (48), expires, rqueue, wqueue, uid.
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    (kind == SOCK_DIAG_BY_FAMILY)
        .then(|| Some(u32::from_ne_bytes(reply.get(80..84)?.try_into().ok()?)))
        .flatten()
}

fn ip16(ip: IpAddr) -> [u8; 16] {
    let mut out = [0; 16];
    match ip {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out = v6.octets(),
    }
    out
}

/// Sends one request on a NETLINK_SOCK_DIAG socket and returns the first reply.
fn ask_kernel(req: &[u8]) -> Option<Vec<u8>> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd was just created and nobody else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed sockaddr_nl addresses the kernel; the buffers outlive the calls.
    unsafe {
        let mut to: libc::sockaddr_nl = std::mem::zeroed();
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let sent = libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&to as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        );
        if sent != req.len() as isize {
            return None;
        }
        let mut buf = vec![0u8; 8192];
        let n = libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0);
        if n <= 0 {
            return None;
        }
        buf.truncate(n as usize);
        Some(buf)
    }
}

fn table_uid(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    let file = match peer.ip() {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let table = std::fs::read_to_string(file).ok()?;
    let (want_local, want_remote) = (hex_addr(peer), hex_addr(local));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st queues timer retrnsmt uid ...
        (f.len() > 7 && f[1] == want_local && f[2] == want_remote)
            .then(|| f[7].parse().ok())
            .flatten()
    })
}

/// An address as the kernel's table prints it: each 32-bit word of the IP in
/// host byte order, then the port, in upper-case hex.
fn hex_addr(a: SocketAddr) -> String {
    let words: Vec<u32> = match a.ip() {
        IpAddr::V4(ip) => vec![u32::from_ne_bytes(ip.octets())],
        IpAddr::V6(ip) => ip
            .octets()
            .chunks(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    };
    let mut s: String = words.iter().map(|w| format!("{w:08X}")).collect();
    s.push_str(&format!(":{:04X}", a.port()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_prints_as_the_kernel_does() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(hex_addr(a), "0100007F:1F90");
    }

    #[test]
    fn our_own_connection_is_ours() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, peer) = l.accept().unwrap();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        let local = l.local_addr().unwrap();
        assert_eq!(diag_uid(local, peer), Some(me));
        assert_eq!(table_uid(local, peer), Some(me));
        let nobody: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(diag_uid(local, nobody), None);
        drop(c);
    }
}
