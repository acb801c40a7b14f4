//! File descriptors passed between processes (`SCM_RIGHTS` over a unix socket),
//! beside one newline-terminated text message: how a listening socket moves from
//! the old server to the new one with its kernel backlog intact.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// More listeners than a server ever has.
pub const MAX_FDS: usize = 16;
/// Largest message (the list of warm versions rides along).
const MAX_MSG: usize = 256 * 1024;

/// Control buffer room for `n` descriptors, as u64s so it is aligned for `cmsghdr`.
fn control_buf(n: usize) -> (Vec<u64>, usize) {
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE((n * std::mem::size_of::<RawFd>()) as u32) } as usize;
    (vec![0u64; space.div_ceil(8)], space)
}

/// Sends `msg` (one line, newline added) with `fds` attached.
pub fn send(sock: &UnixStream, msg: &str, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    if fds.len() > MAX_FDS || msg.len() >= MAX_MSG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too much to pass",
        ));
    }
    let line = format!("{msg}\n");
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let (mut cbuf, space) = control_buf(raw.len());
    let mut iov = libc::iovec {
        iov_base: line.as_ptr() as *mut libc::c_void,
        iov_len: line.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no buffers); we fill the fields below.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    if !raw.is_empty() {
        hdr.msg_control = cbuf.as_mut_ptr().cast();
        hdr.msg_controllen = space as _;
        let bytes = std::mem::size_of_val(raw.as_slice());
        // SAFETY: `cbuf` has CMSG_SPACE(bytes) aligned bytes, so the first header and
        // its `bytes` of data fit; the fds are copied as plain ints.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(bytes as u32) as _;
            std::ptr::copy_nonoverlapping(raw.as_ptr().cast::<u8>(), libc::CMSG_DATA(c), bytes);
        }
    }
    // SAFETY: `hdr` points at `iov`, `line` and `cbuf`, all alive for the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &hdr, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut rest = &line.as_bytes()[n as usize..];
    while !rest.is_empty() {
        let n = io::Write::write(&mut &*sock, rest)?;
        rest = &rest[n..];
    }
    Ok(())
}

/// Receives one line and the descriptors that came with it (close-on-exec).
pub fn recv(sock: &UnixStream) -> io::Result<(String, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; MAX_MSG];
    let (mut cbuf, space) = control_buf(MAX_FDS);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the buffers are set below.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = cbuf.as_mut_ptr().cast();
    hdr.msg_controllen = space as _;
    // SAFETY: `hdr` points at `buf` and `cbuf`, both alive and as large as said.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut hdr, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let fds = take_fds(&hdr);
    if hdr.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other("descriptors were cut off"));
    }
    buf.truncate(n as usize);
    while !buf.ends_with(b"\n") {
        let mut more = [0u8; 4096];
        match (&*sock).read(&mut more)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            k if buf.len() + k > MAX_MSG => return Err(io::Error::other("message too long")),
            k => buf.extend_from_slice(&more[..k]),
        }
    }
    buf.pop();
    let line = String::from_utf8(buf).map_err(|_| io::Error::other("message is not UTF-8"))?;
    Ok((line, fds))
}

/// The descriptors of every `SCM_RIGHTS` header in a received message, owned.
fn take_fds(hdr: &libc::msghdr) -> Vec<OwnedFd> {
    let mut out = Vec::new();
    // SAFETY: the kernel filled `hdr`'s control buffer; the CMSG_* walk stays inside
    // it, and each fd it holds is new to this process, so owning it is sound.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                for i in 0..bytes / std::mem::size_of::<RawFd>() {
                    out.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_listener_crosses_with_its_message() {
        let (a, b) = UnixStream::pair().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        send(&a, "api", &[l.as_fd()]).unwrap();
        let (msg, fds) = recv(&b).unwrap();
        assert_eq!(msg, "api");
        assert_eq!(fds.len(), 1);
        let got = std::net::TcpListener::from(fds.into_iter().next().unwrap());
        assert_eq!(got.local_addr().unwrap(), addr);
        send(&a, "no fds", &[]).unwrap();
        let (msg, fds) = recv(&b).unwrap();
        assert_eq!((msg.as_str(), fds.len()), ("no fds", 0));
    }
}
