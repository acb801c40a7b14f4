//! Liveness and readiness for load balancers and service managers:
//! `/ondol/v1/health` answers while the process serves, `/ondol/v1/ready` only
//! once the store is open, functions are restored and the listeners are up, and
//! not while draining. Both are unsigned and say nothing else.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;
use tokio::sync::watch;

use crate::Api;

pub const HEALTH_PATH: &str = "/ondol/v1/health";
pub const READY_PATH: &str = "/ondol/v1/ready";

/// What the server has finished starting (and whether it is stopping).
pub struct Readiness {
    store: AtomicBool,
    listeners: AtomicBool,
    draining: AtomicBool,
    /// Turns true once every stored function is restored into the engine.
    restored: watch::Sender<bool>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            store: AtomicBool::new(false),
            listeners: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            restored: watch::Sender::new(false),
        }
    }
}

impl Readiness {
    pub fn store_open(&self) {
        self.store.store(true, SeqCst);
    }

    pub fn restored(&self) {
        self.restored.send_replace(true);
    }

    pub fn listeners_up(&self) {
        self.listeners.store(true, SeqCst);
    }

    pub fn draining(&self) {
        self.draining.store(true, SeqCst);
    }

    /// The parts not ready yet, in start order (empty when ready).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.store.load(SeqCst) {
            out.push("store");
        }
        if !*self.restored.borrow() {
            out.push("functions");
        }
        if !self.listeners.load(SeqCst) {
            out.push("listeners");
        }
        if self.draining.load(SeqCst) {
            out.push("draining");
        }
        out
    }

    /// Resolves once functions are restored.
    pub async fn wait_restored(&self) {
        let _ = self.restored.subscribe().wait_for(|r| *r).await;
    }
}

pub async fn health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

pub async fn ready(State(api): State<Arc<Api>>) -> Response {
    let missing = api.ready.missing();
    if missing.is_empty() {
        return Json(json!({ "status": "ready" })).into_response();
    }
    let body = Json(json!({ "status": "not ready", "waiting_for": missing }));
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

/// Holds every other request until functions are restored, as the listen
/// backlog did before the API answered early: no client sees an empty engine.
pub async fn hold_until_restored(
    State(api): State<Arc<Api>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if path != HEALTH_PATH && path != READY_PATH {
        api.ready.wait_restored().await;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_missing_until_ready_then_draining() {
        let r = Readiness::default();
        assert_eq!(r.missing(), ["store", "functions", "listeners"]);
        r.store_open();
        r.restored();
        assert_eq!(r.missing(), ["listeners"]);
        r.listeners_up();
        assert!(r.missing().is_empty());
        r.draining();
        assert_eq!(r.missing(), ["draining"]);
    }
}
