//! A read of the raw central directory for what the zip crate hides: it keys entries
//! by name and keeps only the last of two with the same name, so an archive could
//! carry one file for a scanner and another for us. We walk the headers ourselves.

use std::collections::HashSet;

/// Signature of a central directory file header.
const SIGNATURE: [u8; 4] = *b"PK\x01\x02";
/// Fixed part of a central directory file header.
const FIXED: usize = 46;

/// The first name that two central directory headers share, if any. Walks at most
/// `max` headers from `start`; stops quietly where the headers end.
pub fn exact_duplicate(zip: &[u8], start: u64, max: usize) -> Option<String> {
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut pos = usize::try_from(start).ok()?;
    for _ in 0..max {
        let header = zip.get(pos..pos.checked_add(FIXED)?)?;
        if header[..4] != SIGNATURE {
            return None;
        }
        let field = |at: usize| usize::from(u16::from_le_bytes([header[at], header[at + 1]]));
        let (name_len, extra_len, comment_len) = (field(28), field(30), field(32));
        let name = zip.get(pos + FIXED..pos + FIXED + name_len)?;
        if !seen.insert(name) {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        pos += FIXED + name_len + extra_len + comment_len;
    }
    None
}
