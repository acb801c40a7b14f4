//! An instance's front: how the platform reaches its process. A Lambda runtime
//! polls its own Runtime API (`lambda`); a web-mode app is an HTTP server on a
//! port (`web`). A new kind of front is one new file implementing [`Front`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use ondol_core::{FunctionError, InvokeRequest};

use crate::process::Process;
use crate::runtime_api::Streamed;
use crate::spec::StartSpec;

/// A request or response body as the proxy carries it.
pub type ProxyBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an instance can't serve any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Death {
    Timeout,
    Crash,
    OutOfMemory,
}

/// What one invocation on an instance produced (END/REPORT come with its checkout).
pub(crate) struct Ran {
    pub result: Result<Bytes, FunctionError>,
    pub death: Option<Death>,
    /// Set when the runtime streams its response: the invocation goes on.
    pub stream: Option<Streamed>,
}

/// A front opened before its process starts, and what that process must be told.
pub(crate) struct Opened {
    pub front: Arc<dyn Front>,
    /// Added to the function's environment (`AWS_LAMBDA_RUNTIME_API`, `PORT` ...).
    pub env: Vec<(String, String)>,
    pub argv: Vec<String>,
    /// The network namespace the instance enters (no network), if any.
    pub netns: Option<std::os::fd::OwnedFd>,
}

pub(crate) trait Front: Send + Sync {
    /// Requests one instance serves at once.
    fn capacity(&self) -> u32 {
        1
    }

    /// Waits until the process can serve: the Init Duration in ms, or the init
    /// error (its INIT_REPORT written).
    fn ready<'a>(
        &'a self,
        process: &'a Process,
        spec: &'a StartSpec,
        begun: Instant,
    ) -> BoxFuture<'a, Result<f64, FunctionError>>;

    /// Runs one Lambda invocation (START already written).
    fn invoke<'a>(
        &'a self,
        process: &'a Process,
        req: InvokeRequest,
        request_id: Arc<str>,
        spec: &'a StartSpec,
    ) -> BoxFuture<'a, Ran> {
        let _ = (process, req, request_id, spec);
        Box::pin(async {
            Ran {
                result: Err(FunctionError::platform(
                    "Runtime.Unknown",
                    "this instance takes HTTP, not events".into(),
                )),
                death: None,
                stream: None,
            }
        })
    }

    /// Sends one HTTP request to a web-mode app.
    fn send(&self, req: Request<ProxyBody>) -> BoxFuture<'_, Result<Response<Incoming>, String>> {
        let _ = req;
        Box::pin(async { Err("not a web instance".to_string()) })
    }

    /// When the runtime first reached its front (it is up), if known.
    fn first_contact(&self) -> Option<Instant> {
        None
    }

    /// Stops serving the process (its Runtime API refuses from now on).
    fn close(&self) {}
}
