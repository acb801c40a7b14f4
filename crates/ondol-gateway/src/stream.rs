//! Streamed HTTP responses from Lambda runtimes: the JSON prelude is read off the
//! front of the stream, the rest flows to the client as it arrives.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use ondol_engine::ProxyBody;

pub const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";
const DELIMITER: [u8; 8] = [0; 8];
/// A prelude larger than this is refused as malformed.
const MAX_PRELUDE: usize = 1024 * 1024;

/// Reads up to the 8-NUL delimiter: (prelude JSON, bytes already read past it).
pub async fn split_prelude(body: &mut ProxyBody) -> Result<(Bytes, Bytes), String> {
    let mut buf = BytesMut::new();
    loop {
        if let Some(pos) = buf.windows(8).position(|w| w == DELIMITER) {
            let rest = buf.split_off(pos + 8);
            buf.truncate(pos);
            return Ok((buf.freeze(), rest.freeze()));
        }
        if buf.len() > MAX_PRELUDE {
            return Err("no prelude delimiter in the first 1 MB".into());
        }
        match body.frame().await {
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    buf.extend_from_slice(&d);
                }
            }
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("the stream ended before its prelude did".into()),
        }
    }
}

/// Bytes already read, then the rest of a stream.
pub struct Prefixed {
    head: Option<Bytes>,
    rest: ProxyBody,
}

impl Prefixed {
    pub fn new(head: Bytes, rest: ProxyBody) -> Self {
        Self {
            head: (!head.is_empty()).then_some(head),
            rest,
        }
    }
}

impl Body for Prefixed {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(h) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(h))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }
}
