//! What an instance's processes are doing, read from `/proc` on the host: each
//! process's state and the syscall or kernel function it waits in, and its sockets
//! that are still connecting (TCP in SYN_SENT) or asking DNS (UDP to port 53).
//! Works for every runtime: nothing runs inside the instance.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// One process of the instance, as its own pid namespace numbers it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcState {
    /// The pid the instance sees (its innermost namespace's).
    pub pid: u32,
    pub host_pid: u32,
    pub name: String,
    /// `running`, `sleeping`, `disk sleep` ...
    pub state: &'static str,
    /// The syscall it is blocked in (`connect`, `read` ...), when readable.
    pub syscall: Option<String>,
    /// The kernel function it sleeps in, when the kernel shows it.
    pub wchan: Option<String>,
}

/// A socket the instance waits on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Waiting {
    /// TCP still in SYN_SENT: no answer from the peer yet.
    Connecting(SocketAddr),
    /// A UDP socket to port 53: a name lookup.
    Dns(SocketAddr),
}

/// A socket inode, who holds it, and what it waits on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SocketWait {
    pub inode: u64,
    pub pid: u32,
    pub what: Waiting,
}

/// What the instance looked like at one moment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Snapshot {
    pub procs: Vec<ProcState>,
    pub sockets: Vec<SocketWait>,
}

/// Reads the processes under `leader` (a host pid) and their waiting sockets.
/// `skip_leader`: the leader is the instance's init, not worth reporting.
pub(crate) fn snapshot(leader: u32, skip_leader: bool) -> Snapshot {
    let pids = descendants(leader);
    let mut procs = Vec::new();
    let mut owners: HashMap<u64, u32> = HashMap::new();
    for &pid in &pids {
        let Some(p) = proc_state(pid) else { continue };
        for inode in socket_inodes(pid) {
            owners.entry(inode).or_insert(p.pid);
        }
        if !(skip_leader && pid == leader) {
            procs.push(p);
        }
    }
    let mut sockets = Vec::new();
    // Every process shares the leader's network namespace; its view of the tables
    // is the instance's own (a separate namespace has its own /proc/net).
    let view = pids
        .iter()
        .copied()
        .find(|&p| p != leader)
        .unwrap_or(leader);
    for (file, udp) in [
        ("tcp", false),
        ("tcp6", false),
        ("udp", true),
        ("udp6", true),
    ] {
        let Ok(text) = fs::read_to_string(format!("/proc/{view}/net/{file}")) else {
            continue;
        };
        for (inode, what) in parse_table(&text, udp) {
            if let Some(&pid) = owners.get(&inode) {
                sockets.push(SocketWait { inode, pid, what });
            }
        }
    }
    Snapshot { procs, sockets }
}

/// `leader` and every process below it, parents first.
fn descendants(leader: u32) -> Vec<u32> {
    let mut out = vec![leader];
    let mut seen: HashSet<u32> = out.iter().copied().collect();
    let mut i = 0;
    while i < out.len() && out.len() < 256 {
        let pid = out[i];
        i += 1;
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let path = t.path().join("children");
            let Ok(kids) = fs::read_to_string(path) else {
                continue;
            };
            for k in kids.split_whitespace().filter_map(|k| k.parse().ok()) {
                if seen.insert(k) {
                    out.push(k);
                }
            }
        }
    }
    out
}

fn proc_state(host_pid: u32) -> Option<ProcState> {
    let stat = fs::read_to_string(format!("/proc/{host_pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_string();
    let state = match rest.split_whitespace().next()? {
        "R" => "running",
        "S" => "sleeping",
        "D" => "in disk sleep",
        "T" | "t" => "stopped",
        "Z" => return None,
        _ => "waiting",
    };
    let status = fs::read_to_string(format!("/proc/{host_pid}/status")).unwrap_or_default();
    let pid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(host_pid);
    let wchan = fs::read_to_string(format!("/proc/{host_pid}/wchan"))
        .ok()
        .filter(|w| !w.is_empty() && w != "0");
    let syscall = fs::read_to_string(format!("/proc/{host_pid}/syscall"))
        .ok()
        .and_then(|s| syscall_name(s.split_whitespace().next()?.parse().ok()?));
    Some(ProcState {
        pid,
        host_pid,
        name,
        state,
        syscall,
        wchan,
    })
}

/// The socket inodes among a process's open files.
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| {
            let target = fs::read_link(fd.path()).ok()?;
            let t = target.to_str()?;
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// The rows of a `/proc/net/{tcp,udp}[6]` table that wait on something.
fn parse_table(text: &str, udp: bool) -> Vec<(u64, Waiting)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (remote, state, inode) = (parse_addr(f.get(2)?)?, *f.get(3)?, f.get(9)?);
            let inode: u64 = inode.parse().ok()?;
            let what = if udp {
                // 53 on the far side and not a listener's wildcard: a lookup.
                (remote.port() == 53).then_some(Waiting::Dns(remote))?
            } else {
                (state == "02").then_some(Waiting::Connecting(remote))?
            };
            Some((inode, what))
        })
        .collect()
}

/// `0100007F:1F90` (kernel byte order words) → 127.0.0.1:8080.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok();
    let ip: std::net::IpAddr = match ip.len() {
        8 => Ipv4Addr::from(word(0)?.to_le_bytes()).into(),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?.to_le_bytes());
            }
            let v6 = Ipv6Addr::from(b);
            v6.to_ipv4_mapped().map_or(v6.into(), Into::into)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The names of the syscalls a process is usually found waiting in.
fn syscall_name(nr: i64) -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    const TABLE: &[(i64, &str)] = &[
        (0, "read"),
        (1, "write"),
        (7, "poll"),
        (17, "pread64"),
        (23, "select"),
        (34, "pause"),
        (35, "nanosleep"),
        (42, "connect"),
        (43, "accept"),
        (45, "recvfrom"),
        (47, "recvmsg"),
        (61, "wait4"),
        (202, "futex"),
        (230, "clock_nanosleep"),
        (232, "epoll_wait"),
        (247, "waitid"),
        (270, "pselect6"),
        (271, "ppoll"),
        (281, "epoll_pwait"),
        (288, "accept4"),
        (441, "epoll_pwait2"),
    ];
    #[cfg(target_arch = "aarch64")]
    const TABLE: &[(i64, &str)] = &[
        (22, "epoll_pwait"),
        (63, "read"),
        (64, "write"),
        (67, "pread64"),
        (72, "pselect6"),
        (73, "ppoll"),
        (95, "waitid"),
        (98, "futex"),
        (101, "nanosleep"),
        (115, "clock_nanosleep"),
        (202, "accept"),
        (203, "connect"),
        (207, "recvfrom"),
        (212, "recvmsg"),
        (242, "accept4"),
        (260, "wait4"),
        (441, "epoll_pwait2"),
    ];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const TABLE: &[(i64, &str)] = &[];
    if nr < 0 {
        return None;
    }
    let name = TABLE.iter().find(|(n, _)| *n == nr).map(|(_, s)| *s);
    Some(name.map_or_else(|| format!("syscall {nr}"), str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9C40 0100007F:1538 02 00000001:00000000 01:00000300 00000002     0        0 4242 1 0000000000000000 400 0 0 2 -1
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 0000000000000000FFFF00000100007F:A1B2 0000000000000000FFFF00000500000A:0035 01 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0
";

    #[test]
    fn finds_connects_and_lookups() {
        let tcp = parse_table(TCP, false);
        assert_eq!(
            tcp,
            [(4242, Waiting::Connecting("127.0.0.1:5432".parse().unwrap()))]
        );
        let udp = parse_table(UDP6, true);
        assert_eq!(udp, [(99, Waiting::Dns("10.0.0.5:53".parse().unwrap()))]);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let snap = snapshot(me, false);
        assert_eq!(snap.procs[0].host_pid, me);
        assert!(!snap.procs[0].name.is_empty());
    }
}
