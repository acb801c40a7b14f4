//! The management API on `--api`: Lambda's REST operations with AWS's paths, status
//! codes, shapes and error headers (so boto3 and the aws CLI work unchanged), SigV4
//! when credentials are configured, and ondol's own endpoints under `/ondol/v1`.

mod account;
mod aliases;
mod apps;
mod backup;
mod body_cap;
mod catalog;
mod concurrency;
mod console;
mod cost;
mod error;
mod event_config;
mod eventstream;
mod functions;
mod guard;
pub mod health;
mod invoke;
mod keys;
mod layer_use;
mod layers;
mod lease;
mod meter;
mod names;
mod ondol;
mod prom;
mod queues;
mod rollback;
mod session;
mod shapes;
pub mod sigv4;
mod status;
mod urls;
mod versions;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use http::HeaderValue;
use ondol_core::manifest::FrontDoor;
use ondol_engine::Engine;
use ondol_store::{Blobs, Store};
use ondol_telemetry::LogStore;

pub use body_cap::{BodyCaps, MAX_INVOKE_REQUEST_BYTES};
pub use concurrency::NodeLimits;
pub use cost::BudgetState;
pub use error::ApiError;
pub use meter::{CostConfig, FLUSH_EVERY};
pub use sigv4::{Auth, Credentials};

/// Largest zipped code accepted in a request (Lambda's direct-upload limit, 50 MB).
pub const DEFAULT_MAX_CODE_BYTES: u64 = 50 * 1024 * 1024;

/// Everything the handlers share.
pub struct Api {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<Blobs>,
    pub engine: Engine,
    pub logs: Arc<LogStore>,
    pub max_code_bytes: u64,
    /// Port of the HTTP front door, for Function URLs.
    pub http_port: u16,
    /// The front door's base URL, e.g. `http://127.0.0.1:8080`.
    pub http_base: String,
    pub(crate) front: Arc<dyn FrontDoor>,
    pub(crate) events: Arc<ondol_events::Events>,
    pub(crate) queue: Arc<dyn ondol_store::EventQueue>,
    pub(crate) scheduler: Arc<ondol_events::Scheduler>,
    /// Management writes are applied one at a time: store and engine stay in step.
    pub(crate) writes: tokio::sync::Mutex<()>,
    /// Rollbacks run one at a time (each warms, switches, then drains).
    pub(crate) rollbacks: tokio::sync::Mutex<()>,
    /// Aliases held by a deploy's shift lease (function, alias).
    pub(crate) leases: lease::Leases,
    pub(crate) listeners: Vec<(&'static str, Arc<ondol_core::conn::ConnStats>)>,
    pub(crate) cost: CostConfig,
    /// When usage was last flushed (provisioned time is counted between flushes).
    pub(crate) last_flush: parking_lot::Mutex<std::time::Instant>,
    pub(crate) front_stats: Arc<ondol_core::front_stats::FrontDoorStats>,
    pub(crate) deploy_counts: prom::DeployCounts,
    /// The node's concurrency limit and unreserved minimum.
    pub(crate) concurrency: NodeLimits,
    /// The front door's live API keys.
    pub(crate) keys: Arc<dyn ondol_core::keys::KeyRing>,
    /// What has started; behind `/ondol/v1/ready`.
    pub ready: health::Readiness,
    /// The store's database file, copied by backups.
    pub(crate) db_path: std::path::PathBuf,
    /// Scratch room for backups, on the store's disk.
    pub(crate) data_dir: std::path::PathBuf,
}

/// What the API is built from.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<Blobs>,
    pub engine: Engine,
    pub logs: Arc<LogStore>,
    /// The front door's address, for Function URLs and `ondol deploy`'s URLs.
    pub http: std::net::SocketAddr,
    pub front: Arc<dyn FrontDoor>,
    pub events: Arc<ondol_events::Events>,
    pub queue: Arc<dyn ondol_store::EventQueue>,
    pub scheduler: Arc<ondol_events::Scheduler>,
    /// Each listener's connection counters, by name, for the metrics.
    pub listeners: Vec<(&'static str, Arc<ondol_core::conn::ConnStats>)>,
    pub cost: CostConfig,
    /// The front door's requests by route and status, for the metrics.
    pub front_stats: Arc<ondol_core::front_stats::FrontDoorStats>,
    pub concurrency: NodeLimits,
    /// The front door's API keys, filled from the store and flushed back.
    pub keys: Arc<dyn ondol_core::keys::KeyRing>,
    /// The data dir and the store's database file in it (for backups).
    pub data_dir: std::path::PathBuf,
    pub db_path: std::path::PathBuf,
}

impl Api {
    pub fn new(p: Parts) -> Arc<Self> {
        Arc::new(Self {
            store: p.store,
            blobs: p.blobs,
            engine: p.engine,
            logs: p.logs,
            max_code_bytes: DEFAULT_MAX_CODE_BYTES,
            http_port: p.http.port(),
            http_base: format!("http://{}", p.http),
            front: p.front,
            events: p.events,
            queue: p.queue,
            scheduler: p.scheduler,
            writes: tokio::sync::Mutex::new(()),
            rollbacks: tokio::sync::Mutex::new(()),
            leases: Default::default(),
            listeners: p.listeners,
            cost: p.cost,
            last_flush: parking_lot::Mutex::new(std::time::Instant::now()),
            front_stats: p.front_stats,
            deploy_counts: Default::default(),
            concurrency: p.concurrency,
            keys: p.keys,
            ready: Default::default(),
            db_path: p.db_path,
            data_dir: p.data_dir,
        })
    }
}

/// The API's router; `auth` decides whether requests must be signed.
pub fn router(api: Arc<Api>, auth: Auth) -> Router {
    router_with(api, auth, Vec::new())
}

/// The API's router with more `(path, service)` routes that the binary serves
/// (such as `/ondol/v1/domains`), behind the same signature check.
pub fn router_with(api: Arc<Api>, auth: Auth, extra: Vec<(&'static str, Router)>) -> Router {
    let caps = body_cap::BodyCaps::for_code_limit(api.max_code_bytes);
    let auth = Arc::new(auth);
    let f = "/2015-03-31/functions";
    let f17 = "/2017-10-31/functions";
    let f19 = "/2019-09-30/functions";
    let routes = Router::new()
        .route(f, get(functions::list).post(functions::create))
        .route(
            &format!("{f}/"),
            get(functions::list).post(functions::create),
        )
        .route(
            &format!("{f}/{{name}}"),
            get(functions::get).delete(functions::delete),
        )
        .route(
            &format!("{f}/{{name}}/configuration"),
            get(functions::get_configuration).put(functions::update_configuration),
        )
        .route(&format!("{f}/{{name}}/code"), put(functions::update_code))
        .route(&format!("{f}/{{name}}/invocations"), post(invoke::invoke))
        .route(
            &format!("{f}/{{name}}/versions"),
            get(versions::list_versions).post(versions::publish_version),
        )
        .route(
            &format!("{f}/{{name}}/aliases"),
            get(aliases::list).post(aliases::create),
        )
        .route(
            &format!("{f}/{{name}}/aliases/{{alias}}"),
            get(aliases::get)
                .put(aliases::update)
                .delete(aliases::delete),
        )
        .route(
            "/ondol/v1/functions/{fn}/aliases/{alias}/lease",
            put(lease::put).delete(lease::delete),
        )
        .route(
            &format!("{f17}/{{name}}/concurrency"),
            put(concurrency::put_reserved).delete(concurrency::delete_reserved),
        )
        .route(
            &format!("{f19}/{{name}}/concurrency"),
            get(concurrency::get_reserved),
        )
        .route(
            &format!("{f19}/{{name}}/provisioned-concurrency"),
            get(concurrency::get_or_list_provisioned)
                .put(concurrency::put_provisioned)
                .delete(concurrency::delete_provisioned),
        )
        .route("/2018-10-31/layers", get(layers::list_or_find))
        .route(
            "/2018-10-31/layers/{name}/versions",
            get(layers::list_versions).post(layers::publish),
        )
        .route(
            "/2018-10-31/layers/{name}/versions/{version}",
            get(layers::get).delete(layers::delete),
        )
        .route(
            "/ondol/v1/layers/{name}/versions/{version}/content",
            get(layers::content),
        )
        .route("/2016-08-19/account-settings", get(account::settings))
        .route("/2016-08-19/account-settings/", get(account::settings))
        .route(
            "/2021-11-15/functions/{name}/response-streaming-invocations",
            post(invoke::invoke_stream),
        )
        .route(
            "/2021-10-31/functions/{name}/url",
            get(urls::get)
                .post(urls::create)
                .put(urls::update)
                .delete(urls::delete),
        )
        .route("/2021-10-31/functions/{name}/urls", get(urls::list))
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            get(event_config::get)
                .put(event_config::put)
                .post(event_config::update)
                .delete(event_config::delete),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(event_config::list),
        )
        .route(
            "/ondol/v1/dlq/{name}",
            get(event_config::dlq_list).delete(event_config::dlq_purge),
        )
        .route(
            "/ondol/v1/dlq/{name}/replay",
            post(event_config::dlq_replay),
        )
        .route("/ondol/v1/apps", get(apps::list))
        .route("/ondol/v1/apps/{app}", put(apps::put).delete(apps::delete))
        .route("/ondol/v1/apps/{app}/check", post(apps::check))
        .route("/ondol/v1/info", get(apps::info))
        .route("/ondol/v1/keys", get(keys::list).post(keys::create))
        .route("/ondol/v1/keys/{name}", axum::routing::delete(keys::revoke))
        .route(
            "/ondol/v1/apps/{app}/deploys",
            get(apps::deploys).post(apps::add_deploy),
        )
        .route("/ondol/v1/apps/{app}/rollback", post(rollback::rollback))
        .route("/ondol/v1/functions/{name}/warm", post(ondol::warm))
        .route("/ondol/v1/functions/{name}/drain", post(ondol::drain))
        .route("/ondol/v1/functions/{name}/recent", get(status::recent))
        .route("/ondol/v1/functions/{name}/series", get(status::series))
        .route("/ondol/v1/queues", get(queues::list))
        .route("/ondol/v1/schedules", get(apps::schedules))
        .route("/ondol/v1/logs", get(ondol::logs))
        .route("/ondol/v1/metrics", get(ondol::metrics))
        .route("/ondol/v1/cost", get(cost::cost))
        .route("/ondol/v1/status", get(status::status))
        .route("/ondol/v1/runtimes", get(ondol::runtimes))
        .route("/ondol/v1/code/{sha}", get(ondol::code))
        .route("/ondol/v1/backup", post(backup::backup));
    let routes = extra
        .into_iter()
        .fold(routes, |r, (path, svc)| r.route_service(path, svc));
    routes
        .fallback(ondol::unknown)
        .layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            sigv4::require,
        ))
        .merge(console::router(auth.clone()))
        // Prometheus does not sign requests; the listener still refuses functions.
        .route("/metrics", get(prom::metrics))
        // Sizes are capped per operation, before the signature is read.
        .layer(axum::middleware::from_fn_with_state(
            caps,
            body_cap::enforce,
        ))
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(auth, guard::browsers))
        // Load balancers do not sign; these two reveal nothing but the state.
        .route(health::HEALTH_PATH, get(health::health))
        .route(health::READY_PATH, get(health::ready))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            health::hold_until_restored,
        ))
        .layer(axum::middleware::map_response(request_id))
        .with_state(api)
}

/// `/metrics` alone, for its own listener (`--metrics`), behind a bearer token if given.
pub fn metrics_router(api: Arc<Api>, token: Option<String>) -> Router {
    Router::new()
        .route("/metrics", get(prom::metrics_with_token))
        .with_state((api, token.map(Arc::from)))
}

/// Every response carries `x-amzn-RequestId` (the invocation's own id on Invoke).
async fn request_id(mut resp: axum::response::Response) -> axum::response::Response {
    if !resp.headers().contains_key("x-amzn-requestid") {
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            resp.headers_mut().insert("x-amzn-RequestId", v);
        }
    }
    resp
}
