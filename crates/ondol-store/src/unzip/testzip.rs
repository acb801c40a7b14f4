//! A minimal zip writer for tests: stored entries with any name, Unix mode and data,
//! duplicates included, which well-behaved writers refuse to produce.

/// An archive under construction.
#[derive(Default, Clone, Debug)]
pub struct TestZip {
    entries: Vec<(Vec<u8>, u32, Vec<u8>)>,
}

impl TestZip {
    pub fn new() -> Self {
        Self::default()
    }

    /// A regular file, mode 0644.
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), 0o100644, data)
    }

    /// An executable file, mode 0755.
    pub fn exec(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), 0o100755, data)
    }

    /// A directory (the name should end in `/`).
    pub fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), 0o040755, b"")
    }

    /// A symlink to `target`.
    pub fn link(self, name: &str, target: &str) -> Self {
        self.raw(name.as_bytes(), 0o120777, target.as_bytes())
    }

    /// Any entry.
    pub fn raw(mut self, name: &[u8], mode: u32, data: &[u8]) -> Self {
        self.entries.push((name.to_vec(), mode, data.to_vec()));
        self
    }

    /// The archive's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, mode, data) in &self.entries {
            let offset = out.len() as u32;
            let crc = crc32(data);
            out.extend_from_slice(b"PK\x03\x04");
            put(&mut out, &[20, 0x0800, 0, 0, 0x21]);
            out.extend_from_slice(&crc.to_le_bytes());
            put32(&mut out, &[data.len() as u32, data.len() as u32]);
            put(&mut out, &[name.len() as u16, 0]);
            out.extend_from_slice(name);
            out.extend_from_slice(data);
            central.extend_from_slice(b"PK\x01\x02");
            put(&mut central, &[0x0314, 20, 0x0800, 0, 0, 0x21]);
            central.extend_from_slice(&crc.to_le_bytes());
            put32(&mut central, &[data.len() as u32, data.len() as u32]);
            put(&mut central, &[name.len() as u16, 0, 0, 0, 0]);
            put32(&mut central, &[mode << 16, offset]);
            central.extend_from_slice(name);
        }
        let start = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06");
        let n = self.entries.len() as u16;
        put(&mut out, &[0, 0, n, n]);
        put32(&mut out, &[central.len() as u32, start]);
        put(&mut out, &[0]);
        out
    }
}

fn put(out: &mut Vec<u8>, values: &[u16]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put32(out: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// CRC-32 (IEEE), bit by bit: slow, but test archives are small.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
