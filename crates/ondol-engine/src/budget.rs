//! The node-wide memory budget: the sum of running instances' `memory_mb` stays
//! within a configured share of host RAM.

use parking_lot::Mutex;

pub(crate) struct Budget {
    limit_mb: u64,
    used_mb: Mutex<u64>,
}

impl Budget {
    pub fn new(limit_mb: u64) -> Self {
        Self {
            limit_mb,
            used_mb: Mutex::new(0),
        }
    }

    pub fn limit_mb(&self) -> u64 {
        self.limit_mb
    }

    pub fn used_mb(&self) -> u64 {
        *self.used_mb.lock()
    }

    pub fn try_reserve(&self, mb: u64) -> bool {
        let mut used = self.used_mb.lock();
        if *used + mb <= self.limit_mb {
            *used += mb;
            true
        } else {
            false
        }
    }

    pub fn release(&self, mb: u64) {
        let mut used = self.used_mb.lock();
        *used = used.saturating_sub(mb);
    }
}

/// Total RAM of the host in MB, from /proc/meminfo (read once at start-up).
pub(crate) fn host_memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_within_limit() {
        let b = Budget::new(256);
        assert!(b.try_reserve(128));
        assert!(b.try_reserve(128));
        assert!(!b.try_reserve(1));
        b.release(128);
        assert!(b.try_reserve(100));
        assert_eq!(b.used_mb(), 228);
    }
}
