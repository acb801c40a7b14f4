//! Proxying HTTP to web-mode instances through the same pools and limits as
//! invocations. A request holds its instance slot until the response body has been
//! streamed to the end (or dropped); then its checkout gives the slot back.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use ondol_core::{FunctionError, InvokeError};

use crate::checkout::Checkout;
use crate::front::ProxyBody;
use crate::metrics::inc;
use crate::pool::{Lease, Pool};

/// A proxied response and what the access log wants to know of it.
pub struct ProxyOutcome {
    pub response: Response<ProxyBody>,
    pub request_id: String,
    pub cold_start: bool,
    /// A cold start's phases up to the response head (its duration is not known yet).
    pub phases: Option<ondol_core::ColdStart>,
}

/// Why a proxied request got no response from the app.
#[derive(Debug)]
pub enum ProxyError {
    /// Refused before reaching an instance (throttled, not found, draining).
    Refused(InvokeError),
    /// No instance could start; the init error.
    Init(FunctionError),
    /// The instance failed to answer (it crashed or closed the connection).
    Unreachable(String),
    /// No response headers within the timeout.
    Timeout(Duration),
}

/// A response body that gives the slot back when it ends or is dropped.
struct Guarded {
    inner: Incoming,
    checkout: Option<Checkout>,
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Err(_))) = polled {
            if let Some(c) = &mut self.checkout {
                c.failed = true;
            }
        }
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.checkout.take();
        }
        polled.map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Sends one HTTP request to an instance of `pool`; `Ok(None)`: the pool was
/// retired (look the function up again).
pub(crate) async fn send(
    pool: &Arc<Pool>,
    req: &mut Option<Request<ProxyBody>>,
    timeout: Duration,
) -> Result<Option<ProxyOutcome>, ProxyError> {
    let request_id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
    let lease = pool.checkout(request_id.clone(), false).await;
    let mut checkout = match lease.map_err(ProxyError::Refused)? {
        Lease::Out(c) => c,
        Lease::Retired => return Ok(None),
        Lease::Failed(e) => return Err(ProxyError::Init(e)),
    };
    let Some(req) = req.take() else {
        return Err(ProxyError::Unreachable("request already sent".into()));
    };
    let inst = checkout.instance().clone();
    match tokio::time::timeout(timeout, inst.front.send(req)).await {
        Ok(Ok(resp)) => {
            let (parts, body) = resp.into_parts();
            checkout.failed = parts.status.is_server_error();
            let cold_start = checkout.cold;
            let phases = checkout.cold_start(0.0);
            let body = Guarded {
                inner: body,
                checkout: Some(checkout),
            }
            .boxed_unsync();
            Ok(Some(ProxyOutcome {
                response: Response::from_parts(parts, body),
                request_id: request_id.to_string(),
                cold_start,
                phases,
            }))
        }
        Ok(Err(e)) => {
            checkout.failed = true;
            inc(&pool.node.metrics.function_errors);
            Err(ProxyError::Unreachable(e))
        }
        Err(_) => {
            checkout.failed = true;
            inc(&pool.node.metrics.timeouts);
            let line = format!(
                "{} Request timed out after {:.2} seconds",
                request_id,
                timeout.as_secs_f64()
            );
            inst.capture.platform_for(&request_id, line);
            Err(ProxyError::Timeout(timeout))
        }
    }
}
