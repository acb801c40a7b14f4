//! A request's target, resolved once: the version it runs and that version's pool,
//! which knows the mode (Lambda or web) and the limits.

use std::sync::Arc;

use crate::pool::Pool;

/// Where one request goes (see `Engine::resolve`).
#[derive(Clone)]
pub struct Target {
    pub(crate) pool: Arc<Pool>,
}

impl Target {
    pub fn function(&self) -> &str {
        &self.pool.spec.function
    }

    pub fn version(&self) -> &str {
        &self.pool.spec.version
    }

    /// Whether it is a web-mode function (reached with `Engine::proxy_to`).
    pub fn is_web(&self) -> bool {
        self.pool.spec.web.is_some()
    }

    /// One front-door request for the bill (`ondol cost`): an atomic add.
    pub fn count_front_door(&self) {
        self.pool.usage.front_door();
    }

    /// The largest request payload it takes.
    pub fn request_limit(&self) -> u64 {
        self.pool.limits.max_request_bytes
    }
}
