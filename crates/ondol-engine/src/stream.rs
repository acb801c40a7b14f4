//! Streamed responses from Lambda runtimes (`Lambda-Runtime-Function-Response-Mode:
//! streaming`): chunks reach the caller as the runtime sends them; the instance is
//! held, and its timeout enforced, until the stream ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use ondol_core::FunctionError;
use tokio::sync::mpsc;

use crate::checkout::Checkout;
use crate::front::ProxyBody;
use crate::report;
use crate::runtime_api::{StreamItem, Streamed};
use crate::spec::StartSpec;

/// A response still being streamed by a runtime.
pub struct StreamingOutcome {
    pub request_id: String,
    pub executed_version: String,
    pub cold_start: bool,
    /// The runtime's Content-Type (`application/vnd.awslambda.http-integration-response`
    /// for HTTP responses with a JSON prelude).
    pub content_type: Option<String>,
    /// Ends with an error if the function failed mid-stream.
    pub body: ProxyBody,
}

/// The function failed after it began streaming.
#[derive(Debug)]
pub struct StreamError(pub FunctionError);

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            self.0.error_type,
            String::from_utf8_lossy(&self.0.body)
        )
    }
}

impl std::error::Error for StreamError {}

struct RuntimeStream {
    chunks: mpsc::Receiver<StreamItem>,
    checkout: Option<Checkout>,
}

impl Body for RuntimeStream {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.chunks.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(StreamItem::Data(d))) => Poll::Ready(Some(Ok(Frame::data(d)))),
            Poll::Ready(Some(StreamItem::Error { error_type, body })) => {
                if let Some(mut c) = self.checkout.take() {
                    let line = format!(
                        "{} Stream error: {error_type}: {}",
                        c.request_id,
                        String::from_utf8_lossy(&body)
                    );
                    c.instance().capture.platform_for(&c.request_id, line);
                    c.failed = true;
                }
                Poll::Ready(Some(Err(Box::new(StreamError(FunctionError {
                    error_type,
                    body,
                    cause: ondol_core::Cause::Handler,
                })))))
            }
            Poll::Ready(None) => {
                self.checkout.take();
                Poll::Ready(None)
            }
        }
    }
}

/// Wraps a runtime's stream so the instance returns to its pool when it ends; a
/// watchdog kills the instance if the stream outlives the function's timeout.
pub(crate) fn hand_out(
    mut checkout: Checkout,
    streamed: Streamed,
    spec: &StartSpec,
) -> StreamingOutcome {
    let timeout_ms = spec.timeout_ms;
    let deadline = checkout.begun + Duration::from_millis(timeout_ms);
    let (watched, rid) = (checkout.instance().clone(), checkout.request_id.clone());
    checkout.watchdog = Some(
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline.into()).await;
            watched
                .capture
                .platform_for(&rid, report::timed_out(&rid, timeout_ms));
            watched.kill();
        })
        .abort_handle(),
    );
    StreamingOutcome {
        request_id: checkout.request_id.to_string(),
        executed_version: spec.version.to_string(),
        cold_start: checkout.cold,
        content_type: streamed.content_type,
        body: RuntimeStream {
            chunks: streamed.chunks,
            checkout: Some(checkout),
        }
        .boxed_unsync(),
    }
}

/// Reads a whole stream (for callers that want a buffered result).
pub(crate) async fn collect(body: ProxyBody) -> Result<Bytes, FunctionError> {
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => match e.downcast::<StreamError>() {
            Ok(se) => Err(se.0),
            Err(other) => Err(FunctionError::platform(
                "Runtime.StreamError",
                other.to_string(),
            )),
        },
    }
}
