//! Who is on the other end of an accepted loopback TCP connection: the uid that
//! owns the client's socket, read from the kernel's socket table
//! (`/proc/net/tcp`, `/proc/net/tcp6`). Sandboxed functions each have their own
//! uid, so this tells one function (or the server) from another.

use std::net::{IpAddr, SocketAddr};

/// The uid owning the socket at `peer` connected to our `local`, if found.
pub fn peer_uid(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
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
        assert_eq!(peer_uid(l.local_addr().unwrap(), peer), Some(me));
        drop(c);
    }
}
