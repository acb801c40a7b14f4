//! The Runtime API (`/2018-06-01`) served to one instance on its own loopback
//! listener: `/next` blocks until the pool dispatches work; `/response`, `/error` and
//! `/init/error` complete it. Wire details follow LAMBDA-COMPAT §1. One addition of
//! ondol's: `POST /runtime/ondol/where`, where a built-in runtime says what its code
//! is doing when its init is slow or its invocation near its deadline.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::peer::peer_uid;

/// Work handed to the instance's runtime.
pub(crate) struct Dispatch {
    pub request_id: Arc<str>,
    pub deadline_ms: u64,
    pub invoked_arn: String,
    pub payload: Bytes,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub trace_id: Option<String>,
    pub reply: oneshot::Sender<Reply>,
}

/// How the runtime finished an invocation.
#[derive(Debug)]
pub(crate) enum Reply {
    Response(Bytes),
    Error {
        error_type: String,
        body: Bytes,
    },
    /// The response body exceeded the limit (its whole size).
    TooLarge(u64),
    /// The response upload broke off.
    Truncated,
    /// A streamed response (`Lambda-Runtime-Function-Response-Mode: streaming`):
    /// its chunks follow as the runtime sends them.
    Stream(Streamed),
}

/// A response the runtime is still sending.
#[derive(Debug)]
pub(crate) struct Streamed {
    pub content_type: Option<String>,
    pub chunks: mpsc::Receiver<StreamItem>,
}

/// One piece of a streamed response; a mid-stream error ends it.
#[derive(Debug)]
pub(crate) enum StreamItem {
    Data(Bytes),
    Error { error_type: String, body: Bytes },
}

/// How the runtime finished its init phase.
#[derive(Debug)]
pub(crate) enum InitSignal {
    Ready,
    Failed { error_type: String, body: Bytes },
}

/// Where the runtime said its code was: during the init (`request_id` None) or
/// during an invocation.
#[derive(Debug, Clone)]
pub(crate) struct WhereNote {
    pub request_id: Option<String>,
    pub text: String,
}

/// The longest `where` note kept: one stack frame and its source line.
const MAX_NOTE: u64 = 2048;

struct Inflight {
    request_id: Arc<str>,
    reply: oneshot::Sender<Reply>,
}

pub(crate) struct RuntimeApi {
    next: tokio::sync::Mutex<mpsc::Receiver<Dispatch>>,
    inflight: Mutex<Option<Inflight>>,
    init: Mutex<Option<oneshot::Sender<InitSignal>>>,
    max_response: u64,
    /// The instance's uid in a sandbox: nobody else may connect.
    owner: Option<u32>,
    closed: tokio::sync::watch::Sender<bool>,
    /// When the runtime first connected: it is up and talking.
    first_contact: OnceLock<Instant>,
    note: Mutex<Option<WhereNote>>,
}

type Body = Full<Bytes>;

/// Lambda's reference limit text: 6 MB + 100 bytes of envelope.
fn too_large_message(limit: u64) -> String {
    format!(
        "Exceeded maximum allowed payload size ({} bytes).",
        limit + 100
    )
}

impl RuntimeApi {
    /// A new API, its dispatch sender and the receiver of its init outcome.
    /// With `owner`, only connections from that uid are served (the instance's).
    pub fn new(
        max_response: u64,
        owner: Option<u32>,
    ) -> (
        Arc<Self>,
        mpsc::Sender<Dispatch>,
        oneshot::Receiver<InitSignal>,
    ) {
        let (tx, rx) = mpsc::channel(1);
        let (init_tx, init_rx) = oneshot::channel();
        let api = Arc::new(Self {
            next: tokio::sync::Mutex::new(rx),
            inflight: Mutex::new(None),
            init: Mutex::new(Some(init_tx)),
            max_response,
            owner,
            closed: tokio::sync::watch::channel(false).0,
            first_contact: OnceLock::new(),
            note: Mutex::new(None),
        });
        (api, tx, init_rx)
    }

    /// Ends every pending `/next` poll and stops accepting: the instance is gone.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// When the runtime first connected, if it has.
    pub fn first_contact(&self) -> Option<Instant> {
        self.first_contact.get().copied()
    }

    /// The runtime's latest word on where its code is, if it was about `request_id`
    /// (`None`: the init).
    pub fn where_note(&self, request_id: Option<&str>) -> Option<String> {
        let note = self.note.lock();
        let n = note.as_ref()?;
        (n.request_id.as_deref() == request_id).then(|| n.text.clone())
    }

    /// Serves connections on `listener` until [`RuntimeApi::close`].
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let mut closed = self.closed.subscribe();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = closed.wait_for(|c| *c) => return,
            };
            let Ok((stream, peer)) = accepted else {
                continue;
            };
            if let Some(owner) = self.owner {
                let who = stream.local_addr().ok().and_then(|l| peer_uid(l, peer));
                if who != Some(owner) {
                    tracing::warn!(%peer, ?who, owner, "Runtime API connection refused: not from its instance");
                    continue;
                }
            }
            let _ = stream.set_nodelay(true);
            let _ = self.first_contact.set(Instant::now());
            let api = self.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(api.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
            return error(StatusCode::NOT_FOUND, "NotFound", "Unknown path");
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match (req.method(), parts.as_slice()) {
            (&Method::GET, ["invocation", "next"]) => self.next().await,
            (&Method::POST, ["invocation", id, "response"]) => {
                let id = id.to_string();
                self.response(&id, req).await
            }
            (&Method::POST, ["invocation", id, "error"]) => {
                let id = id.to_string();
                self.error(&id, req).await
            }
            (&Method::POST, ["init", "error"]) => self.init_error(req).await,
            (&Method::POST, ["ondol", "where"]) => self.where_(req).await,
            _ => error(StatusCode::NOT_FOUND, "NotFound", "Unknown path"),
        }
    }

    async fn next(&self) -> Response<Body> {
        if let Some(init) = self.init.lock().take() {
            let _ = init.send(InitSignal::Ready);
        }
        if self.inflight.lock().is_some() {
            return error(
                StatusCode::FORBIDDEN,
                "InvalidStateTransition",
                "An invocation is in progress: post its response or error first",
            );
        }
        // One poller at a time; a dispatch is only ever taken by this instance.
        let mut rx = self.next.lock().await;
        let mut closed = self.closed.subscribe();
        let next = tokio::select! {
            d = rx.recv() => d,
            _ = closed.wait_for(|c| *c) => None,
        };
        let Some(d) = next else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "Instance is shutting down",
            );
        };
        let mut resp = Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", &*d.request_id)
            .header("lambda-runtime-deadline-ms", d.deadline_ms.to_string())
            .header("lambda-runtime-invoked-function-arn", &d.invoked_arn);
        if let Some(t) = &d.trace_id {
            resp = resp.header("lambda-runtime-trace-id", t);
        }
        if let Some(c) = &d.client_context {
            resp = resp.header("lambda-runtime-client-context", c);
        }
        if let Some(c) = &d.cognito_identity {
            resp = resp.header("lambda-runtime-cognito-identity", c);
        }
        *self.inflight.lock() = Some(Inflight {
            request_id: d.request_id,
            reply: d.reply,
        });
        resp.body(Full::new(d.payload)).unwrap_or_else(|_| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "bad header",
            )
        })
    }

    /// Takes the in-flight invocation if `id` names it.
    fn take(&self, id: &str) -> Option<Inflight> {
        let mut slot = self.inflight.lock();
        match slot.as_ref() {
            Some(i) if &*i.request_id == id => slot.take(),
            _ => None,
        }
    }

    async fn response(&self, id: &str, req: Request<Incoming>) -> Response<Body> {
        let streaming = header(req.headers(), "lambda-runtime-function-response-mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("streaming"));
        if streaming {
            if let Some(inflight) = self.take(id) {
                return stream_response(inflight, req).await;
            }
        }
        // The body is always read, even to refuse it: an unread body makes hyper drop
        // the runtime's keep-alive connection, and its next call would fail.
        let body = read_limited(req, self.max_response).await;
        let Some(inflight) = self.take(id) else {
            return invalid_id();
        };
        let (reply, resp) = match body {
            Ok((bytes, trailers)) => match trailer_error(&trailers) {
                Some(r) => (r, accepted()),
                None => (Reply::Response(bytes), accepted()),
            },
            Err(ReadError::TooLarge(size)) => (
                Reply::TooLarge(size),
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    &too_large_message(self.max_response),
                ),
            ),
            Err(ReadError::Truncated) => (
                Reply::Truncated,
                error(
                    StatusCode::BAD_REQUEST,
                    "TruncatedHTTPRequest",
                    "Truncated HTTP request",
                ),
            ),
        };
        let _ = inflight.reply.send(reply);
        resp
    }

    async fn error(&self, id: &str, req: Request<Incoming>) -> Response<Body> {
        let error_type = header(req.headers(), "lambda-runtime-function-error-type")
            .unwrap_or_else(|| "Unhandled".into());
        let body = read_limited(req, self.max_response).await;
        let Some(inflight) = self.take(id) else {
            return invalid_id();
        };
        let body = match body {
            Ok((b, _)) if !b.is_empty() => b,
            _ => Bytes::from(
                serde_json::json!({"errorType": error_type, "errorMessage": ""}).to_string(),
            ),
        };
        let _ = inflight.reply.send(Reply::Error { error_type, body });
        accepted()
    }

    async fn init_error(&self, req: Request<Incoming>) -> Response<Body> {
        let error_type = header(req.headers(), "lambda-runtime-function-error-type")
            .unwrap_or_else(|| "Runtime.Unknown".into());
        let body = read_limited(req, self.max_response)
            .await
            .map(|(b, _)| b)
            .unwrap_or_default();
        let Some(init) = self.init.lock().take() else {
            return error(
                StatusCode::FORBIDDEN,
                "InvalidStateTransition",
                "Init is already complete",
            );
        };
        let _ = init.send(InitSignal::Failed { error_type, body });
        accepted()
    }
}

impl RuntimeApi {
    /// Keeps the runtime's note on where its code is (printable text, bounded).
    async fn where_(&self, req: Request<Incoming>) -> Response<Body> {
        let request_id = header(req.headers(), "lambda-runtime-aws-request-id");
        let Ok((body, _)) = read_limited(req, MAX_NOTE).await else {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "TooLarge", "note too long");
        };
        let text: String = String::from_utf8_lossy(&body)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        *self.note.lock() = Some(WhereNote { request_id, text });
        accepted()
    }
}

/// Hands the caller a stream at once, then forwards the runtime's chunks as they
/// arrive; an error in the trailers ends the stream with that error.
async fn stream_response(inflight: Inflight, req: Request<Incoming>) -> Response<Body> {
    let (tx, rx) = mpsc::channel(16);
    let content_type = header(req.headers(), "content-type");
    let _ = inflight.reply.send(Reply::Stream(Streamed {
        content_type,
        chunks: rx,
    }));
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let item = match frame {
            Ok(f) => match f.into_data() {
                Ok(data) => StreamItem::Data(data),
                Err(f) => match f.into_trailers().ok().and_then(|t| trailer_error(&Some(t))) {
                    Some(Reply::Error { error_type, body }) => {
                        StreamItem::Error { error_type, body }
                    }
                    _ => continue,
                },
            },
            Err(e) => StreamItem::Error {
                error_type: "Runtime.StreamError".into(),
                body: Bytes::from(format!("the response stream broke off: {e}")),
            },
        };
        // A caller that went away no longer reads: keep draining the runtime.
        let _ = tx.send(item).await;
    }
    accepted()
}

enum ReadError {
    /// Over the limit: the body's whole size (read and discarded).
    TooLarge(u64),
    Truncated,
}

/// Reads a body up to `limit` bytes. Past the limit the rest is read and discarded,
/// so the runtime's keep-alive connection survives a 413.
async fn read_limited(
    req: Request<Incoming>,
    limit: u64,
) -> Result<(Bytes, Option<HeaderMap>), ReadError> {
    let mut body = req.into_body();
    let mut buf = bytes::BytesMut::new();
    let mut trailers = None;
    let mut too_large = false;
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Truncated)?;
        match frame.into_data() {
            Ok(data) => {
                size += data.len() as u64;
                if too_large || (buf.len() + data.len()) as u64 > limit {
                    too_large = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(&data);
                }
            }
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    if too_large {
        return Err(ReadError::TooLarge(size));
    }
    Ok((buf.freeze(), trailers))
}

/// A streamed response that failed mid-way reports its error in trailers.
fn trailer_error(trailers: &Option<HeaderMap>) -> Option<Reply> {
    let t = trailers.as_ref()?;
    let error_type = header(t, "lambda-runtime-function-error-type")?;
    let body = header(t, "lambda-runtime-function-error-body")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_default();
    Some(Reply::Error {
        error_type,
        body: Bytes::from(body),
    })
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn invalid_id() -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

fn accepted() -> Response<Body> {
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")))
        .expect("static response")
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({"errorMessage": message, "errorType": kind}).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response")
}
