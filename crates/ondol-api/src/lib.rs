//! The management API on `--api`: Lambda's REST operations with AWS's paths, status
//! codes, shapes and error headers (so boto3 and the aws CLI work unchanged), and
//! ondol's own endpoints under `/ondol/v1` (logs, metrics, pools).

mod error;
mod functions;
mod invoke;
mod names;
mod ondol;
mod shapes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use http::HeaderValue;
use ondol_engine::Engine;
use ondol_store::{Blobs, Store};
use ondol_telemetry::LogStore;

pub use error::ApiError;
pub use functions::restore;

/// Largest zipped code accepted in a request (Lambda's direct-upload limit, 50 MB).
pub const DEFAULT_MAX_CODE_BYTES: u64 = 50 * 1024 * 1024;

/// Everything the handlers share.
pub struct Api {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<Blobs>,
    pub engine: Engine,
    pub logs: Arc<LogStore>,
    pub max_code_bytes: u64,
    /// Management writes are applied one at a time: store and engine stay in step.
    pub(crate) writes: tokio::sync::Mutex<()>,
}

impl Api {
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<Blobs>,
        engine: Engine,
        logs: Arc<LogStore>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            blobs,
            engine,
            logs,
            max_code_bytes: DEFAULT_MAX_CODE_BYTES,
            writes: tokio::sync::Mutex::new(()),
        })
    }
}

/// The API's router.
pub fn router(api: Arc<Api>) -> Router {
    let fns = "/2015-03-31/functions";
    Router::new()
        .route(fns, get(functions::list).post(functions::create))
        .route(
            &format!("{fns}/"),
            get(functions::list).post(functions::create),
        )
        .route(
            &format!("{fns}/{{name}}"),
            get(functions::get).delete(functions::delete),
        )
        .route(
            &format!("{fns}/{{name}}/configuration"),
            get(functions::get_configuration).put(functions::update_configuration),
        )
        .route(
            &format!("{fns}/{{name}}/code"),
            axum::routing::put(functions::update_code),
        )
        .route(&format!("{fns}/{{name}}/invocations"), post(invoke::invoke))
        .route("/ondol/v1/logs", get(ondol::logs))
        .route("/ondol/v1/metrics", get(ondol::metrics))
        .route("/ondol/v1/code/{sha}", get(ondol::code))
        .fallback(ondol::unknown)
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024))
        .layer(axum::middleware::map_response(request_id))
        .with_state(api)
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
