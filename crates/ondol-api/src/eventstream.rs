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

/// A runtime's response stream as event-stream frames: a `PayloadChunk` per chunk,
/// then `InvokeComplete` (with the error if the stream failed).
pub struct Events {
    inner: Option<ondol_engine::ProxyBody>,
}

impl Events {
    pub fn new(body: ondol_engine::ProxyBody) -> Self {
        Self { inner: Some(body) }
    }
}

impl http_body::Body for Events {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let done = |error: Option<(String, String)>| {
            let v = match error {
                Some((code, details)) => {
                    serde_json::json!({ "ErrorCode": code, "ErrorDetails": details })
                }
                None => serde_json::json!({}),
            };
            http_body::Frame::data(event(
                "InvokeComplete",
                "application/json",
                v.to_string().as_bytes(),
            ))
        };
        match std::pin::Pin::new(inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(f))) => match f.into_data() {
                Ok(d) => Poll::Ready(Some(Ok(http_body::Frame::data(event(
                    "PayloadChunk",
                    "application/octet-stream",
                    &d,
                ))))),
                Err(_) => Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::new())))),
            },
            Poll::Ready(Some(Err(e))) => {
                self.inner = None;
                let (code, details) = match e.downcast_ref::<ondol_engine::StreamError>() {
                    Some(se) => (
                        se.0.error_type.clone(),
                        String::from_utf8_lossy(&se.0.body).into_owned(),
                    ),
                    None => ("Runtime.StreamError".to_string(), e.to_string()),
                };
                Poll::Ready(Some(Ok(done(Some((code, details))))))
            }
            Poll::Ready(None) => {
                self.inner = None;
                Poll::Ready(Some(Ok(done(None))))
            }
        }
    }
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
