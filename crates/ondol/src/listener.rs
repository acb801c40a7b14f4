//! Serving one listener with bounded connections. Each connection may take
//! `header_timeout` to send a request head and sit `idle_timeout` between requests
//! (a response still being written is not idle); a request body that stalls for
//! `body_timeout` is cut off, and so is a client that reads none of its response for
//! that long; past `max_connections` new connections are closed at accept (logged
//! at most every 10 s, and counted).
//! The timers are one sleep per connection that re-arms only when it fires: nothing
//! is added to the per-request path but two atomic updates.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulConnection;
use ondol_core::conn::ConnStats;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    /// Refuse connections from sockets owned by these uids (sandboxed functions).
    pub refuse_uids: Option<(u32, u32)>,
}

/// How long, once draining, a request head already begun may take to finish.
const DRAIN_HEAD_GRACE: Duration = Duration::from_secs(1);

/// Milliseconds since the first call: a cheap clock for the atomics below.
fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// One connection's state, shared by its socket, its requests and its watchdog.
#[derive(Default)]
struct Activity {
    /// Requests in flight (until their response body is written or dropped).
    busy: AtomicUsize,
    /// When the connection last became idle.
    idle_since: AtomicU64,
    /// When the first byte of the next request head arrived (0: none yet).
    head_started: AtomicU64,
    /// Since when the client has not taken any response bytes we had (0: it has).
    write_blocked: AtomicU64,
    /// Whether a request head has begun: a drain lets a connection that has sent
    /// nothing yet send its first request (it was accepted to be served).
    spoke: std::sync::atomic::AtomicBool,
}

enum Verdict {
    Wait(Duration),
    HeaderTimeout,
    Idle,
    WriteStall,
}

/// `verdict` once `limit` has passed since `since`, else how long to wait.
fn due(since: u64, now: u64, limit: Duration, verdict: Verdict) -> Verdict {
    let waited = Duration::from_millis(now.saturating_sub(since));
    if waited >= limit {
        verdict
    } else {
        Verdict::Wait((limit - waited).max(Duration::from_millis(10)))
    }
}

impl Activity {
    fn judge(&self, l: &ConnLimits) -> Verdict {
        let now = now_ms();
        match self.write_blocked.load(Relaxed) {
            0 => {}
            t => return due(t, now, l.body_timeout, Verdict::WriteStall),
        }
        if self.busy.load(Relaxed) > 0 {
            return Verdict::Wait(l.header_timeout.min(l.idle_timeout).min(l.body_timeout));
        }
        match self.head_started.load(Relaxed) {
            0 => due(
                self.idle_since.load(Relaxed),
                now,
                l.idle_timeout,
                Verdict::Idle,
            ),
            t => due(t, now, l.header_timeout, Verdict::HeaderTimeout),
        }
    }

    /// Notes a write's outcome: progress counts as activity (the tail of a response
    /// may be written well after its body ended), a full socket starts the stall clock.
    fn wrote(&self, r: &Poll<std::io::Result<usize>>) {
        match r {
            Poll::Pending if self.write_blocked.load(Relaxed) == 0 => {
                self.write_blocked.store(now_ms(), Relaxed)
            }
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.write_blocked.store(0, Relaxed);
                self.idle_since.store(now_ms(), Relaxed);
            }
            _ => {}
        }
    }
}

/// Marks a request in flight until dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: &Arc<Activity>) -> Self {
        a.busy.fetch_add(1, Relaxed);
        a.spoke.store(true, Relaxed);
        a.head_started.store(0, Relaxed);
        Self(a.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since.store(now_ms(), Relaxed);
        self.0.busy.fetch_sub(1, Relaxed);
    }
}

/// A response body that keeps its request in flight until it is done.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, noting when a request head starts arriving on an idle connection.
pub(crate) struct Watched {
    tcp: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.tcp).poll_read(cx, buf);
        let a = &self.activity;
        if buf.filled().len() > before
            && a.busy.load(Relaxed) == 0
            && a.head_started.load(Relaxed) == 0
        {
            a.head_started.store(now_ms(), Relaxed);
            a.spoke.store(true, Relaxed);
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.activity.wrote(&r);
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.activity.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// Logs at most once per period, with how many were not logged.
struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    fn hit(&mut self) -> Option<u64> {
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if due {
            self.last = Some(Instant::now());
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
/// The answer to function code calling the management API.
fn function_refused() -> http::Response<Body> {
    http::Response::builder()
        .status(http::StatusCode::FORBIDDEN)
        .header("x-amzn-ErrorType", "AccessDeniedException")
        .header(http::header::CONNECTION, "close")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"Type":"User","message":"Function code may not use the management API"}"#,
        ))
        .unwrap_or_default()
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves `router` on `listener` until `stop` turns true, then lets open
/// connections finish their requests (a request head not complete within
/// `DRAIN_HEAD_GRACE` of the stop is not waited for).
pub async fn serve(
    listener: TcpListener,
    name: &'static str,
    router: Router,
    limits: ConnLimits,
    stats: Arc<ConnStats>,
    stop: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    stats
        .max_connections
        .store(limits.max_connections as u64, Relaxed);
    let (mut shed_log, mut err_log) = (
        RateLimited {
            last: None,
            suppressed: 0,
        },
        RateLimited {
            last: None,
            suppressed: 0,
        },
    );
    let stopping = stopped(stop.clone());
    tokio::pin!(stopping);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stopping => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    stats.accept_errors.fetch_add(1, Relaxed);
                    if let Some(more) = err_log.hit() {
                        tracing::warn!(listener = name, error = %e, suppressed = more, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            stats.shed.fetch_add(1, Relaxed);
            if let Some(more) = shed_log.hit() {
                tracing::warn!(
                    listener = name, %peer, max_connections = limits.max_connections, suppressed = more,
                    "connection refused: the listener is at its connection cap (raise it with --max-connections)"
                );
            }
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        stats.accepted.fetch_add(1, Relaxed);
        stats.open.fetch_add(1, Relaxed);
        let (router, stats, stop, tls) = (router.clone(), stats.clone(), stop.clone(), tls.clone());
        tokio::spawn(async move {
            connection(tcp, peer, router, limits, &stats, stop, tls).await;
            stats.open.fetch_sub(1, Relaxed);
            drop(slot);
        });
    }
    // Wait for open connections to finish (the caller bounds how long).
    let _ = slots.acquire_many(limits.max_connections as u32).await;
    Ok(())
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnLimits,
    stats: &ConnStats,
    stop: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
) {
    let activity = Arc::new(Activity::default());
    // A new connection owes a request head (or a TLS handshake): silence counts
    // against header_timeout.
    activity.idle_since.store(now_ms(), Relaxed);
    activity.head_started.store(now_ms(), Relaxed);
    let local = tcp.local_addr().ok();
    let svc = service(router, limits, activity.clone(), peer, local, tls.is_some());
    let watched = Watched {
        tcp,
        activity: activity.clone(),
    };
    let Some(tls) = tls else {
        let io = TokioIo::new(watched);
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, svc);
        return drive(conn, &activity, limits, stats, peer, stop).await;
    };
    let Some(io) = crate::tls::handshake(&tls, watched, limits.header_timeout, stats, peer).await
    else {
        return;
    };
    // HTTP/2 or HTTP/1.1, whichever ALPN settled on.
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    drive(conn, &activity, limits, stats, peer, stop).await
}

/// The per-request service: marks the connection busy, refuses function code on
/// the management API, bounds body stalls and calls the router.
fn service(
    router: Router,
    limits: ConnLimits,
    act: Arc<Activity>,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    https: bool,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = http::Response<Tracked>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<http::Response<Tracked>, Infallible>> + Send,
> + Clone {
    // Judged at the first request, not at accept: a silent connection costs no lookup.
    let function_uid = Arc::new(OnceLock::new());
    hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        let busy = Busy::new(&act);
        let refused = limits.refuse_uids.and_then(|(first, last)| {
            *function_uid.get_or_init(|| {
                let uid = local.and_then(|l| ondol_engine::peer_uid(l, peer));
                uid.filter(|u| (first..=last).contains(u))
            })
        });
        if https {
            crate::tls::mark_https(&mut req);
        }
        req.extensions_mut().insert(ConnectInfo(peer));
        let req = req.map(|b| Body::new(crate::stall::StallBody::new(limits.body_timeout, b)));
        if let Some(uid) = refused {
            tracing::warn!(%peer, uid, "refused: function code may not use the management API");
        }
        let call = refused.is_none().then(|| router.clone().oneshot(req));
        async move {
            let resp = match call {
                Some(call) => call.await.unwrap_or_else(|e: Infallible| match e {}),
                None => function_refused(),
            };
            Ok::<_, Infallible>(resp.map(|inner| Tracked { inner, _busy: busy }))
        }
    })
}

/// Runs one connection under its watchdog until it ends, is cut, or drains.
async fn drive<C: GracefulConnection>(
    conn: C,
    activity: &Activity,
    mut limits: ConnLimits,
    stats: &ConnStats,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    tokio::pin!(conn);
    let stopping = stopped(stop);
    tokio::pin!(stopping);
    let mut draining = false;
    // A connection accepted just before the drain whose request has not arrived:
    // hyper would close it unanswered, so its shutdown waits for the first head.
    let mut first_head_by: Option<Instant> = None;
    let mut wait = limits
        .header_timeout
        .min(limits.idle_timeout)
        .min(limits.body_timeout);
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = &mut stopping, if !draining => {
                draining = true;
                if activity.spoke.load(Relaxed) {
                    conn.as_mut().graceful_shutdown();
                } else {
                    first_head_by = Some(Instant::now() + DRAIN_HEAD_GRACE);
                }
                // hyper closes idle connections but waits for a half-sent head as long
                // as the client likes: give it a moment, then stop waiting.
                limits.header_timeout = limits.header_timeout.min(DRAIN_HEAD_GRACE);
                wait = Duration::from_millis(10);
            }
            _ = tokio::time::sleep(wait) => {
                if first_head_by.is_some_and(|t| activity.spoke.load(Relaxed) || Instant::now() >= t) {
                    first_head_by = None;
                    conn.as_mut().graceful_shutdown();
                }
                match count_verdict(activity.judge(&limits), stats, peer) {
                    Some(d) => wait = if first_head_by.is_some() { Duration::from_millis(10) } else { d },
                    None => return,
                }
            }
        }
    }
}

/// Counts a watchdog's verdict: the next wait, or `None` once the connection must close.
fn count_verdict(verdict: Verdict, stats: &ConnStats, peer: SocketAddr) -> Option<Duration> {
    match verdict {
        Verdict::Wait(d) => return Some(d),
        Verdict::HeaderTimeout => {
            stats.header_timeouts.fetch_add(1, Relaxed);
            tracing::debug!(%peer, "closed: request head not received in time");
        }
        Verdict::Idle => {
            stats.idle_closed.fetch_add(1, Relaxed);
        }
        Verdict::WriteStall => {
            stats.write_timeouts.fetch_add(1, Relaxed);
            tracing::debug!(%peer, "closed: the client read none of its response in time");
        }
    }
    None
}
