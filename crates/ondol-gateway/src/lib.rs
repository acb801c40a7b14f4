//! The HTTP front door on `--http`: routes by host + method + path to functions,
//! builds API Gateway events (payload 2.0 and 1.0) or proxies plain HTTP to
//! web-mode functions, and answers with API Gateway's shapes minus its quirks.

mod auth;
mod cors;
mod events;
mod path;
mod response;
mod stream;
mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::Router;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use ondol_core::front_stats::{FrontDoorStats, RouteStats, UNROUTED};
use ondol_core::manifest::{AppHttp, FrontDoor, PayloadFormat, UrlRoute};
use ondol_core::{InvokeError, InvokeRequest};
use ondol_engine::{Engine, ProxyError, Run};
use parking_lot::RwLock;

use response::message;
use table::{Table, Target};

/// The front door's state: the engine and the current route table.
pub struct Gateway {
    engine: Engine,
    table: RwLock<Arc<Table>>,
    /// Authorizers' caches (JWKS, Lambda answers), kept across route changes.
    auth: auth::Auth,
    stats: Arc<FrontDoorStats>,
    /// Requests no route took (the `-` route).
    unrouted: Arc<RouteStats>,
}

impl Gateway {
    pub fn new(engine: Engine) -> Arc<Self> {
        let stats = Arc::new(FrontDoorStats::default());
        Arc::new(Self {
            engine,
            table: RwLock::new(Arc::new(Table::default())),
            auth: auth::Auth::default(),
            unrouted: stats.route(UNROUTED),
            stats,
        })
    }

    /// Requests by route and status, for the metrics.
    pub fn stats(&self) -> Arc<FrontDoorStats> {
        self.stats.clone()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .fallback(handle)
            .layer(tower_http::compression::CompressionLayer::new())
            .with_state(self.clone())
    }
}

impl FrontDoor for Gateway {
    fn check(&self, apps: &[AppHttp], urls: &[UrlRoute]) -> Result<(), String> {
        Table::build(apps, urls).map(|_| ())
    }

    fn serve(&self, apps: Vec<AppHttp>, urls: Vec<UrlRoute>) {
        match Table::build(&apps, &urls) {
            Ok(mut t) => {
                t.attach_stats(&self.stats);
                *self.table.write() = Arc::new(t)
            }
            Err(e) => tracing::error!(error = %e, "routes not applied"),
        }
    }
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<String> = h
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP {
        h.remove(name);
    }
    for name in listed {
        h.remove(name.as_str());
    }
}

/// What the access log line reports besides the response.
struct Served {
    route: String,
    /// The route's counters (none: counted as unrouted).
    stats: Option<Arc<RouteStats>>,
    /// The invocation's id, or one made for the answer when nothing was invoked.
    request_id: Option<String>,
    cold: bool,
    /// A cold start's phases, for the access log.
    phases: Option<ondol_core::ColdStart>,
}

impl Served {
    /// Before (or without) a route.
    fn unrouted() -> Self {
        Self {
            route: "-".into(),
            stats: None,
            request_id: None,
            cold: false,
            phases: None,
        }
    }
}

async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    let begun = Instant::now();
    let method = req.method().to_string();
    // The log keeps the path as sent; everything after this sees it normalised.
    let path = req.uri().path().to_string();
    let (mut resp, mut served) = match path::normalize_uri(req.uri()) {
        Some(uri) => {
            *req.uri_mut() = uri;
            route(&gw, peer, req).await
        }
        None => (
            message(StatusCode::BAD_REQUEST, "Bad Request"),
            Served::unrouted(),
        ),
    };
    let request_id = served
        .request_id
        .take()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("apigw-requestid", v.clone());
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    let elapsed = begun.elapsed().as_secs_f64();
    let stats = served.stats.as_ref().unwrap_or(&gw.unrouted);
    stats.count(resp.status().as_u16(), elapsed);
    tracing::info!(
        target: "ondol::access",
        method = %method,
        path = %path,
        route = %served.route,
        status = resp.status().as_u16(),
        duration_ms = format!("{:.2}", elapsed * 1000.0),
        cold_start = served.cold,
        init_phases = %init_phases(served.phases.as_ref()),
        request_id = %request_id,
        "request"
    );
    resp
}

/// `queue=0.01 process=9.15 runtime=71.33 handler=40.84` (ms), or `-` when warm.
fn init_phases(p: Option<&ondol_core::ColdStart>) -> String {
    p.map_or_else(
        || "-".into(),
        |p| {
            format!(
                "queue={:.2} process={:.2} runtime={:.2} handler={:.2}",
                p.queue_wait_ms, p.process_start_ms, p.runtime_ready_ms, p.handler_init_ms
            )
        },
    )
}

fn host_of(h: &HeaderMap) -> String {
    h.get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default()
}

async fn route(gw: &Arc<Gateway>, peer: SocketAddr, req: Request) -> (Response, Served) {
    let mut served = Served::unrouted();
    let table = gw.table.read().clone();
    let host = host_of(req.headers());
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let (target, params, matched, prefix) = match table.url(&host) {
        Some(t) if t.iam => {
            served.route = "$default (AWS_IAM)".into();
            return (message(StatusCode::FORBIDDEN, "Forbidden: this function URL requires AWS_IAM auth, which ondol's front door does not verify; use AuthType NONE"), served);
        }
        Some(t) => (t, Vec::new(), path.as_str(), None),
        None => match table.find(&host, &method, &path) {
            Some(m)
                if !(method == "OPTIONS"
                    && is_preflight(req.headers())
                    && m.target.route.method.as_deref() != Some("OPTIONS")) =>
            {
                (m.target, m.params, m.path, m.prefix)
            }
            _ => {
                // A preflight is answered from the app's CORS unless a route takes OPTIONS itself.
                if method == "OPTIONS" && is_preflight(req.headers()) {
                    if let Some(cors) = table.any_method(&host, &path).and_then(|t| t.cors.clone())
                    {
                        served.route = "preflight".into();
                        return (cors::preflight(&cors, req.headers()), served);
                    }
                }
                return (message(StatusCode::NOT_FOUND, "Not Found"), served);
            }
        },
    };
    served.route = target.route.key.clone();
    served.stats = Some(target.stats.clone());
    // Only CORS needs the request's headers after it is consumed.
    let origin = target
        .cors
        .as_ref()
        .and_then(|_| req.headers().get("origin").cloned());
    let at = At {
        params,
        path: matched,
        prefix,
    };
    let mut resp = dispatch(gw, target, at, peer, req, &mut served).await;
    if let (Some(cors), Some(origin)) = (&target.cors, origin) {
        let mut h = HeaderMap::new();
        h.insert("origin", origin);
        cors::decorate(cors, &h, &mut resp);
    }
    (resp, served)
}

fn is_preflight(h: &HeaderMap) -> bool {
    h.contains_key("origin") && h.contains_key("access-control-request-method")
}

fn too_large(limit: u64) -> Response {
    message(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("Request body exceeds the limit of {limit} bytes; raise [http].max_request_body in ondol.toml"),
    )
}

/// Where in the route table a request landed.
struct At<'a> {
    params: Vec<(String, String)>,
    /// The path without the stage prefix.
    path: &'a str,
    /// The stage prefix the request came in under (`/prod`), if any.
    prefix: Option<&'a str>,
}

async fn dispatch(
    gw: &Arc<Gateway>,
    target: &Target,
    at: At<'_>,
    peer: SocketAddr,
    req: Request,
    served: &mut Served,
) -> Response {
    if let Some(bucket) = &target.bucket {
        if let Err(wait) = bucket.lock().take() {
            let mut r = message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
            return r;
        }
    }
    let (parts, body) = req.into_parts();
    let granted = match &target.auth {
        Some(g) => {
            let asked = auth::Asked {
                req: &parts,
                path: at.path,
                params: &at.params,
                stage: &target.stage,
                route: &target.route,
                peer,
            };
            match gw.auth.check(&gw.engine, g, &asked).await {
                Ok(granted) => granted,
                Err(refused) => return refused,
            }
        }
        None => None,
    };
    let req = Request::from_parts(parts, body);
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > target.max_body) {
        return too_large(target.max_body);
    }
    let name = &target.route.function;
    let Some(version) = gw.engine.pick(name, target.qualifier.as_deref()) else {
        tracing::error!(function = %name, "route points at a function that does not exist");
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    // The pool (and with it the mode) is looked up once for the whole request.
    let Some(resolved) = gw.engine.target(name, &version) else {
        return refused(
            name,
            target.billed,
            InvokeError::NotFound(format!("{name}:{version}")),
        );
    };
    if target.billed {
        resolved.count_front_door();
    }
    let timeout = target.route.timeout_ms.map(Duration::from_millis);
    if resolved.is_web() {
        return proxy(gw, target, &resolved, peer, req, &at, timeout, served).await;
    }
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, target.max_body as usize)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(target.max_body),
        // The client stalled or went away mid-body: its fault, and nothing was invoked.
        Err(_) => {
            return message(
                StatusCode::REQUEST_TIMEOUT,
                "Request body not received in time",
            )
        }
    };
    let now = chrono::Utc::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let info = events::RequestInfo {
        method: parts.method.as_str(),
        raw_path: at.path,
        full_path: parts.uri.path(),
        stage: &target.stage,
        variables: target.variables.as_deref(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
        route_key: &target.route.key,
        resource: target.route.path.as_deref(),
        params: &at.params,
        request_id: &request_id,
        source_ip: peer.ip().to_string(),
        now,
        account: &gw.engine.arn().account,
        protocol: match parts.version {
            http::Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        },
    };
    let mut event = match target.route.payload {
        PayloadFormat::V2 => events::v2(&info),
        PayloadFormat::V1 => events::v1(&info),
    };
    if let Some(g) = &granted {
        auth::attach(&mut event, target.route.payload, g);
    }
    let invoke = InvokeRequest {
        payload: event.to_string().into(),
        invoked_arn: gw.engine.arn().qualified(name, target.qualifier.as_deref()),
        request_id: Some(request_id.clone()),
        ..Default::default()
    };
    served.request_id = Some(request_id.clone());
    let call = gw.engine.invoke_to(&resolved, invoke);
    let outcome = match timeout {
        Some(t) => match tokio::time::timeout(t, call).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(function = %name, timeout_ms = t.as_millis() as u64, %request_id, "route timeout: no response in time");
                return message(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out");
            }
        },
        None => call.await,
    };
    let out = match outcome {
        Ok(Run::Done(o)) => o,
        Ok(Run::Streaming(s)) => {
            served.cold = s.cold_start;
            return streamed(name, s).await;
        }
        Err(e) => return refused(name, target.billed, e),
    };
    served.cold = out.cold_start;
    served.phases = out.phases;
    match out.result {
        Ok(payload) => {
            let mapped = match target.route.payload {
                PayloadFormat::V2 => response::v2(&payload),
                PayloadFormat::V1 => response::v1(&payload),
            };
            mapped.unwrap_or_else(|why| {
                tracing::error!(function = %name, %request_id, %why, "malformed function response");
                message(StatusCode::BAD_GATEWAY, "Internal Server Error")
            })
        }
        Err(e) if e.error_type == "Sandbox.Timedout" => {
            message(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out")
        }
        Err(e) => {
            tracing::error!(function = %name, %request_id, error_type = %e.error_type, error = %String::from_utf8_lossy(&e.body), "function error");
            message(StatusCode::BAD_GATEWAY, "Internal Server Error")
        }
    }
}

/// A runtime's streamed response: with a JSON prelude (status, headers, cookies)
/// before 8 NUL bytes for HTTP integrations, else a 200 of its content type.
async fn streamed(name: &str, s: ondol_engine::StreamingOutcome) -> Response {
    let mut body = s.body;
    if s.content_type.as_deref() != Some(stream::HTTP_INTEGRATION) {
        let mut r = Response::new(Body::new(body));
        if let Some(v) = s.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
            r.headers_mut().insert("content-type", v);
        }
        return r;
    }
    match stream::split_prelude(&mut body).await {
        Ok((prelude, rest)) => match response::v2(&prelude) {
            Ok(mut head) => {
                *head.body_mut() = Body::new(stream::Prefixed::new(rest, body));
                head
            }
            Err(why) => {
                tracing::error!(function = %name, %why, "malformed streaming prelude");
                message(StatusCode::BAD_GATEWAY, "Internal Server Error")
            }
        },
        Err(why) => {
            tracing::error!(function = %name, %why, "function failed before its stream began");
            message(StatusCode::BAD_GATEWAY, "Internal Server Error")
        }
    }
}

/// A refused invocation as the client of a route (`billed`) or a Function URL sees it.
fn refused(name: &str, billed: bool, e: InvokeError) -> Response {
    match e {
        InvokeError::Throttled { message: m, .. } => {
            tracing::warn!(function = %name, reason = %m, "throttled");
            // What AWS answers for a throttled Lambda: an HTTP API route 503,
            // a Function URL 429 with Lambda's own words.
            let mut r = if billed {
                message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            } else {
                message(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded.")
            };
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        InvokeError::RequestTooLarge { limit, .. } => message(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("Request exceeds the function's limit of {limit} bytes; raise its max_request_bytes"),
        ),
        InvokeError::ShuttingDown => message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        other => {
            tracing::error!(function = %name, error = %other, "cannot invoke");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn proxy(
    gw: &Arc<Gateway>,
    target: &Target,
    resolved: &ondol_engine::Target,
    peer: SocketAddr,
    req: Request,
    at: &At<'_>,
    timeout: Option<Duration>,
    served: &mut Served,
) -> Response {
    let (mut parts, body) = req.into_parts();
    // Under a stage prefix the app sees its own paths, and the prefix for links;
    // a prefix the client sent itself is not passed on.
    parts.headers.remove("x-forwarded-prefix");
    if let Some(prefix) = at.prefix {
        let pq = match parts.uri.query() {
            Some(q) => format!("{}?{q}", at.path),
            None => at.path.to_string(),
        };
        if let Ok(uri) = http::Uri::builder().path_and_query(pq).build() {
            parts.uri = uri;
        }
        if let Ok(v) = HeaderValue::from_str(prefix) {
            parts.headers.insert("x-forwarded-prefix", v);
        }
    }
    let host = parts.headers.get(http::header::HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    let xff = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prev) => format!("{prev}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        parts.headers.insert("x-forwarded-for", v);
    }
    // The TLS listener hands on absolute URIs with the `https` scheme.
    let proto = match parts.uri.scheme_str() {
        Some("https") => "https",
        _ => "http",
    };
    parts
        .headers
        .insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(h) = host {
        parts.headers.insert("x-forwarded-host", h);
    }
    let limited = http_body_util::Limited::new(body, target.max_body as usize)
        .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e })
        .boxed_unsync();
    let req = http::Request::from_parts(parts, limited);
    let name = resolved.function();
    match gw.engine.proxy_to(resolved, req, timeout).await {
        Ok(out) => {
            served.request_id = Some(out.request_id);
            served.cold = out.cold_start;
            served.phases = out.phases;
            let (mut parts, body) = out.response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Err(ProxyError::Refused(e)) => refused(name, target.billed, e),
        Err(ProxyError::Init(e)) => {
            tracing::error!(function = %name, error_type = %e.error_type, error = %String::from_utf8_lossy(&e.body), "web function failed to start");
            message(StatusCode::BAD_GATEWAY, "Internal Server Error")
        }
        Err(ProxyError::Unreachable(why)) => {
            tracing::error!(function = %name, %why, "web function did not answer");
            message(StatusCode::BAD_GATEWAY, "Internal Server Error")
        }
        Err(ProxyError::Timeout(t)) => {
            tracing::warn!(function = %name, timeout_ms = t.as_millis() as u64, "web function timed out");
            message(StatusCode::GATEWAY_TIMEOUT, "Endpoint request timed out")
        }
    }
}
