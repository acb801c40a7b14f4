//! The HTTP front door on `--http`: routes by host + method + path to functions,
//! builds API Gateway events (payload 2.0 and 1.0) or proxies plain HTTP to
//! web-mode functions, and answers with API Gateway's shapes minus its quirks.
//! A request goes `handle` → `route` → `dispatch` (or `proxy`); any failure on
//! the way is a [`GatewayError`], answered in `error.rs` alone.

mod auth;
mod cors;
mod dispatch;
mod error;
mod events;
mod keys;
mod path;
mod proxy;
mod response;
mod route;
mod served;
mod stream;
mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::Router;
use http::{HeaderMap, HeaderValue};
use ondol_core::front_stats::{FrontDoorStats, RouteStats, UNROUTED};
use ondol_core::manifest::{AppHttp, FrontDoor, UrlRoute};
use ondol_engine::Engine;
use parking_lot::RwLock;

pub use error::{Exposure, GatewayError};
use served::Served;
use table::Table;

/// The front door's state: the engine and the current route table.
pub struct Gateway {
    engine: Engine,
    table: RwLock<Arc<Table>>,
    /// Authorizers' caches (JWKS, Lambda answers), kept across route changes.
    auth: auth::Auth,
    stats: Arc<FrontDoorStats>,
    /// Requests no route took (the `-` route).
    unrouted: Arc<RouteStats>,
    /// Whether error bodies name their cause (`--expose-errors`).
    expose: Exposure,
    keys: Arc<keys::Keys>,
}

impl Gateway {
    pub fn new(engine: Engine, expose_errors: bool) -> Arc<Self> {
        let stats = Arc::new(FrontDoorStats::default());
        Arc::new(Self {
            engine,
            table: RwLock::new(Arc::new(Table::default())),
            auth: auth::Auth::default(),
            unrouted: stats.route(UNROUTED),
            stats,
            expose: Exposure(expose_errors),
            keys: Arc::default(),
        })
    }

    /// The live API keys, for the management API to fill and flush.
    pub fn keys(&self) -> Arc<dyn ondol_core::keys::KeyRing> {
        self.keys.clone()
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

async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    let begun = Instant::now();
    let method = req.method().to_string();
    // The log keeps the path as sent; everything after this sees it normalised.
    let path = req.uri().path().to_string();
    let mut served = Served::unrouted();
    let result = match path::normalize_uri(req.uri()) {
        Some(uri) => {
            *req.uri_mut() = uri;
            route::route(&gw, peer, req, &mut served).await
        }
        None => Err(GatewayError::BadPath),
    };
    let request_id = served.request_id();
    let mut resp =
        result.unwrap_or_else(|e| e.respond(gw.expose, &request_id, served.function.as_deref()));
    if let Some((cors, origin)) = served.cors.take() {
        let mut h = HeaderMap::new();
        h.insert("origin", origin);
        cors::decorate(&cors, &h, &mut resp);
    }
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
