//! The `application/vnd.amazon.eventstream` framing botocore reads for
//! InvokeWithResponseStream: prelude, string headers, payload, CRC32s.

use bytes::{BufMut, Bytes, BytesMut};

/// One event message with string headers.
pub fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = BytesMut::new();
    for (name, value) in headers {
        h.put_u8(name.len() as u8);
        h.put_slice(name.as_bytes());
        h.put_u8(7); // string
        h.put_u16(value.len() as u16);
        h.put_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut m = BytesMut::with_capacity(total);
    m.put_u32(total as u32);
    m.put_u32(h.len() as u32);
    let prelude_crc = crc32fast::hash(&m[..8]);
    m.put_u32(prelude_crc);
    m.put_slice(&h);
    m.put_slice(payload);
    let crc = crc32fast::hash(&m);
    m.put_u32(crc);
    m.freeze()
}

pub fn event(kind: &str, content_type: &str, payload: &[u8]) -> Bytes {
    message(
        &[
            (":event-type", kind),
            (":content-type", content_type),
            (":message-type", "event"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_and_crcs() {
        let m = message(&[(":event-type", "PayloadChunk")], b"hi");
        let total = u32::from_be_bytes(m[0..4].try_into().unwrap()) as usize;
        assert_eq!(total, m.len());
        let prelude_crc = u32::from_be_bytes(m[8..12].try_into().unwrap());
        assert_eq!(prelude_crc, crc32fast::hash(&m[..8]));
        let crc = u32::from_be_bytes(m[total - 4..].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&m[..total - 4]));
        assert_eq!(&m[total - 6..total - 4], b"hi");
    }
}
