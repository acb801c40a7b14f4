//! Delivering one queued event: success, a retry with backoff, or giving up to the
//! failure destination or the dead-letter store.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use ondol_core::{InvokeError, InvokeRequest};
use ondol_store::{DeadLetter, EventConfig, QueuedEvent};

use crate::record::{build, destination_function, ZERO_RESERVED};
use crate::{now_ms, Events};

/// Waiting for capacity is not a failure: look again shortly.
const CAPACITY_RETRY: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl Events {
    fn config_of(&self, ev: &QueuedEvent) -> EventConfig {
        self.store
            .get_function(&ev.function)
            .ok()
            .flatten()
            .map(|r| r.event_config(ev.qualifier.as_deref()))
            .unwrap_or_default()
    }

    /// The function's reserved concurrency is 0 (Lambda's kill switch; ondol's own
    /// `max_concurrency = 0` holds events until their maximum age instead).
    fn zero_reserved(&self, ev: &QueuedEvent) -> bool {
        let rec = self.store.get_function(&ev.function).ok().flatten();
        rec.is_some_and(|r| r.reserved_concurrency == Some(0))
    }

    pub(crate) async fn deliver(self: &Arc<Self>, ev: QueuedEvent, version: Option<String>) {
        let Some(version) = version else {
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let cfg = me.config_of(&ev);
                let msg = format!(
                    "{{\"errorMessage\":\"Function not found: {}\"}}",
                    ev.function
                );
                me.give_up(
                    &ev,
                    &cfg,
                    "RetriesExhausted",
                    ev.attempts,
                    "$LATEST",
                    Some("Unhandled"),
                    msg.as_bytes(),
                );
            })
            .await;
            return;
        };
        let arn = self
            .engine
            .arn()
            .qualified(&ev.function, ev.qualifier.as_deref());
        let req = InvokeRequest {
            payload: ev.payload.clone().into(),
            request_id: Some(ev.request_id.clone()),
            invoked_arn: arn,
            ..Default::default()
        };
        let outcome = self.engine.invoke(&ev.function, &version, req).await;
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.settle(ev, &version, outcome)).await;
    }

    /// Records what a delivery came to (blocking store writes).
    fn settle(
        &self,
        ev: QueuedEvent,
        version: &str,
        outcome: Result<ondol_core::InvokeOutcome, InvokeError>,
    ) {
        let out = match outcome {
            Ok(o) => o,
            Err(InvokeError::Throttled { .. }) if self.zero_reserved(&ev) => {
                // Reserved concurrency 0: Lambda fails the event at once, without
                // an attempt, to the on-failure destination or dead letters.
                let cfg = self.config_of(&ev);
                self.give_up(&ev, &cfg, ZERO_RESERVED, ev.attempts, version, None, b"");
                return;
            }
            Err(InvokeError::Throttled { message, .. }) => {
                // Waiting for capacity is not a failed attempt, but it ends at the
                // event's maximum age.
                let cfg = self.config_of(&ev);
                if now_ms() - ev.enqueued_ms > (cfg.maximum_event_age_s * 1000) as i64 {
                    let body = serde_json::json!({ "errorMessage": message }).to_string();
                    self.give_up(
                        &ev,
                        &cfg,
                        "EventAgeExceeded",
                        ev.attempts,
                        version,
                        None,
                        body.as_bytes(),
                    );
                } else {
                    self.counters.retries.fetch_add(1, Relaxed);
                    let _ = self.queue.reschedule(
                        ev.id,
                        now_ms() + CAPACITY_RETRY.as_millis() as i64,
                        ev.attempts,
                    );
                }
                return;
            }
            // Draining: the event stays queued and is delivered after the restart.
            Err(InvokeError::ShuttingDown) => return,
            Err(e) => {
                let cfg = self.config_of(&ev);
                let body = serde_json::json!({ "errorMessage": e.to_string() }).to_string();
                self.give_up(
                    &ev,
                    &cfg,
                    "RetriesExhausted",
                    ev.attempts + 1,
                    version,
                    Some("Unhandled"),
                    body.as_bytes(),
                );
                return;
            }
        };
        let cfg = self.config_of(&ev);
        match &out.result {
            Ok(response) => {
                if let Err(e) = self.queue.delivered(ev.id) {
                    tracing::error!(error = %e, "could not mark an event delivered");
                    return;
                }
                let _ = self.queue.run_outcome(&ev.request_id, "succeeded");
                if let Some(target) = cfg.on_success.as_deref().and_then(destination_function) {
                    let record = build(
                        self.engine.arn(),
                        &ev,
                        "Success",
                        ev.attempts + 1,
                        &out.executed_version,
                        None,
                        response,
                    );
                    self.send_record(&target, &record);
                }
            }
            Err(fe) => {
                let attempts = ev.attempts + 1;
                let age_ms = now_ms() - ev.enqueued_ms;
                if attempts > cfg.maximum_retry_attempts {
                    self.give_up(
                        &ev,
                        &cfg,
                        "RetriesExhausted",
                        attempts,
                        &out.executed_version,
                        Some("Unhandled"),
                        &fe.body,
                    );
                } else if age_ms > (cfg.maximum_event_age_s * 1000) as i64 {
                    self.give_up(
                        &ev,
                        &cfg,
                        "EventAgeExceeded",
                        attempts,
                        &out.executed_version,
                        Some("Unhandled"),
                        &fe.body,
                    );
                } else {
                    let backoff = (self.cfg.retry_base
                        * 2u32.pow(attempts.saturating_sub(1).min(16)))
                    .min(MAX_BACKOFF);
                    tracing::info!(function = %ev.function, request_id = %ev.request_id, attempt = attempts, retry_in_ms = backoff.as_millis() as u64, error_type = %fe.error_type, "async invocation failed; retrying");
                    self.counters.retries.fetch_add(1, Relaxed);
                    let _ = self.queue.reschedule(
                        ev.id,
                        now_ms() + backoff.as_millis() as i64,
                        attempts,
                    );
                }
            }
        }
    }

    /// The last failure: the record goes to the failure destination, else the event
    /// goes to the dead-letter store.
    #[allow(clippy::too_many_arguments)]
    fn give_up(
        &self,
        ev: &QueuedEvent,
        cfg: &EventConfig,
        condition: &str,
        attempts: u32,
        version: &str,
        function_error: Option<&str>,
        response: &[u8],
    ) {
        let record = build(
            self.engine.arn(),
            ev,
            condition,
            attempts,
            version,
            function_error,
            response,
        );
        tracing::warn!(function = %ev.function, request_id = %ev.request_id, attempts, condition, "async invocation gave up");
        if let Some(target) = cfg.on_failure.as_deref().and_then(destination_function) {
            self.send_record(&target, &record);
            let _ = self.queue.delivered(ev.id);
            return;
        }
        let letter = DeadLetter {
            id: 0,
            function: ev.function.clone(),
            qualifier: ev.qualifier.clone(),
            request_id: ev.request_id.clone(),
            payload: ev.payload.clone(),
            attempts,
            enqueued_ms: ev.enqueued_ms,
            failed_ms: now_ms(),
            record,
        };
        match self.queue.dead_letter(ev.id, &letter) {
            Ok(()) => {
                self.counters.dead_letters.fetch_add(1, Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "could not store a dead letter"),
        }
    }

    fn send_record(&self, target: &(String, Option<String>), record: &serde_json::Value) {
        let (name, qualifier) = target;
        if let Err(e) = self.enqueue(
            name,
            qualifier.as_deref(),
            record.to_string().into_bytes(),
            None,
        ) {
            tracing::error!(destination = %name, error = %e, "could not send a destination record");
        }
    }
}
