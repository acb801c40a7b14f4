//! What one request collected on its way through the front door: where it landed
//! in the route table, and what the access log and the error answer report.

use std::sync::Arc;

use http::HeaderValue;
use ondol_core::front_stats::RouteStats;

use ondol_core::manifest::Cors;

/// What the access log line reports besides the response.
pub(crate) struct Served {
    pub route: String,
    /// The route's counters (none: counted as unrouted).
    pub stats: Option<Arc<RouteStats>>,
    /// The invocation's id, or one made for the answer when nothing was invoked.
    pub request_id: Option<String>,
    /// The function the route points at, for the error log line.
    pub function: Option<String>,
    pub cold: bool,
    /// A cold start's phases, for the access log.
    pub phases: Option<ondol_core::ColdStart>,
    /// The route's CORS and the request's `Origin`: errors are decorated too.
    pub cors: Option<(Arc<Cors>, HeaderValue)>,
}

impl Served {
    /// Before (or without) a route.
    pub fn unrouted() -> Self {
        Self {
            route: "-".into(),
            stats: None,
            request_id: None,
            function: None,
            cold: false,
            phases: None,
            cors: None,
        }
    }

    /// The request's id: the invocation's, or a new one when nothing was invoked.
    pub fn request_id(&mut self) -> String {
        self.request_id
            .get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
            .clone()
    }
}

/// Where in the route table a request landed.
pub(crate) struct At<'a> {
    pub params: Vec<(String, String)>,
    /// The path without the stage prefix.
    pub path: &'a str,
    /// The stage prefix the request came in under (`/prod`), if any.
    pub prefix: Option<&'a str>,
}
