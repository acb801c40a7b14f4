//! Proxying HTTP to web-mode instances through the same pools and limits as
//! invocations. A request holds its instance slot until the response body has been
//! streamed to the end (or dropped); then END/REPORT are written and the slot returns.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use ondol_core::{FunctionError, InvokeError};

use crate::node::{Inflight, Node};
use crate::instance::{Front, Instance};
use crate::metrics::inc;
use crate::pool::{Grant, Pool};
use crate::report;
use crate::web::ProxyBody;

/// A proxied response and what the access log wants to know of it.
pub struct ProxyOutcome {
    pub response: Response<ProxyBody>,
    pub request_id: String,
    pub cold_start: bool,
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

/// One request's hold on an instance slot, until its response has been sent.
pub(crate) struct Checkout {
    pub pool: Arc<Pool>,
    pub inflight: Option<Inflight>,
    pub inst: Arc<Instance>,
    pub request_id: Arc<str>,
    pub begun: Instant,
    pub init_ms: Option<f64>,
    /// Kills a streaming instance that outlives its timeout.
    pub watchdog: Option<tokio::task::AbortHandle>,
    /// Counted as a failed invocation (a stream error, a web 5xx, no answer).
    pub failed: bool,
}

impl Checkout {
    pub fn new(
        pool: Arc<Pool>,
        node: &Arc<Node>,
        inst: Arc<Instance>,
        request_id: Arc<str>,
        begun: Instant,
        init_ms: Option<f64>,
    ) -> Self {
        Self {
            pool,
            inflight: Some(node.begin()),
            inst,
            request_id,
            begun,
            init_ms,
            watchdog: None,
            failed: false,
        }
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some(w) = self.watchdog.take() {
            w.abort();
        }
        let ms = self.begun.elapsed().as_secs_f64() * 1000.0;
        self.pool.count(ms, self.failed || !self.inst.is_alive());
        // Web requests overlap on an instance and have the front door's access log
        // line each; a Lambda runtime's streamed invocation gets END and REPORT.
        if self.pool.spec.web.is_none() {
            let spec = &self.pool.spec;
            let cap = &self.inst.capture;
            cap.platform_for(&self.request_id, report::end(&self.request_id));
            cap.platform_for(
                &self.request_id,
                report::report(
                    &self.request_id,
                    ms,
                    spec.memory_mb,
                    self.inst.mem.peak_mb(),
                    self.init_ms,
                ),
            );
        }
        self.inflight.take();
        if self.inst.is_alive() {
            self.pool.release(self.inst.clone());
        } else {
            inc(&self.pool.node.metrics.crashes);
            self.pool.discard(&self.inst);
        }
    }
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

impl Pool {
    /// Sends one HTTP request to an instance; `Ok(None)`: the pool was retired.
    pub(crate) async fn proxy(
        self: &Arc<Self>,
        req: &mut Option<Request<ProxyBody>>,
        timeout: Duration,
    ) -> Result<Option<ProxyOutcome>, ProxyError> {
        let (inst, cold) = match self.acquire().await.map_err(ProxyError::Refused)? {
            Grant::Retired => return Ok(None),
            Grant::BackingOff(e) => {
                self.count_failure();
                return Err(ProxyError::Init(e));
            }
            Grant::Warm(i) => (i, false),
            Grant::Spawn => match self.cold_start(false).await {
                Ok(i) => {
                    self.share(&i);
                    (i, true)
                }
                Err(e) => {
                    self.count_failure();
                    return Err(ProxyError::Init(e));
                }
            },
        };
        let Some(req) = req.take() else {
            return Err(ProxyError::Unreachable("request already sent".into()));
        };
        inc(&self.node.metrics.invocations);
        let request_id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let init_ms = if cold { inst.take_init_ms() } else { None };
        let mut checkout = Checkout::new(
            self.clone(),
            &self.node,
            inst.clone(),
            request_id.clone(),
            Instant::now(),
            init_ms,
        );
        let Front::Web(target) = &inst.front else {
            return Err(ProxyError::Unreachable("not a web instance".into()));
        };
        match tokio::time::timeout(timeout, target.send(req)).await {
            Ok(Ok(resp)) => {
                let (parts, body) = resp.into_parts();
                checkout.failed = parts.status.is_server_error();
                let body = Guarded {
                    inner: body,
                    checkout: Some(checkout),
                }
                .boxed_unsync();
                Ok(Some(ProxyOutcome {
                    response: Response::from_parts(parts, body),
                    request_id: request_id.to_string(),
                    cold_start: cold,
                }))
            }
            Ok(Err(e)) => {
                checkout.failed = true;
                inc(&self.node.metrics.function_errors);
                Err(ProxyError::Unreachable(e.to_string()))
            }
            Err(_) => {
                checkout.failed = true;
                inc(&self.node.metrics.timeouts);
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
}
