//! Reads of the raw zip structures for what the zip crate hides or does too late: it
//! keys entries by name and keeps only the last of two with the same name (so an
//! archive could carry one file for a scanner and another for us), and it parses the
//! whole central directory, hundreds of bytes of memory per entry, before we could
//! compare the entry count with the cap.

use std::collections::HashSet;

/// Signature of a central directory file header.
const SIGNATURE: [u8; 4] = *b"PK\x01\x02";
/// Fixed part of a central directory file header.
const FIXED: usize = 46;
/// End of central directory record, and its zip64 locator and record.
const EOCD: [u8; 4] = *b"PK\x05\x06";
const EOCD_LEN: usize = 22;
const LOCATOR: [u8; 4] = *b"PK\x06\x07";
const LOCATOR_LEN: usize = 20;
const EOCD64: [u8; 4] = *b"PK\x06\x06";

/// The entry count the archive declares in its end record (zip64 included), found
/// the way readers do: the last end-record signature within a comment's reach of the
/// end. A cheap first gate only; the count the zip crate parses is checked after.
pub fn declared_entries(zip: &[u8]) -> Option<u64> {
    let earliest = zip.len().saturating_sub(EOCD_LEN + usize::from(u16::MAX));
    let at = (earliest..=zip.len().checked_sub(EOCD_LEN)?)
        .rev()
        .find(|&i| zip[i..i + 4] == EOCD)?;
    let count = u16::from_le_bytes([zip[at + 10], zip[at + 11]]);
    if count != u16::MAX {
        return Some(u64::from(count));
    }
    let locator = zip.get(at.checked_sub(LOCATOR_LEN)?..at)?;
    if locator[..4] != LOCATOR {
        return Some(u64::from(count));
    }
    let offset = usize::try_from(le64(&locator[8..16])).ok()?;
    let record = zip.get(offset..offset.checked_add(40)?)?;
    (record[..4] == EOCD64).then(|| le64(&record[32..40]))
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().expect("eight bytes"))
}

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
