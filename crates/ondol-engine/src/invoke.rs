//! A Lambda invocation through a pool: an instance checked out, the event
//! dispatched, and the outcome whole, or a stream still being sent.

use std::sync::Arc;

use ondol_core::{ColdStart, FunctionError, InvokeError, InvokeOutcome, InvokeRequest};

use crate::checkout::Verdict;
use crate::metrics::inc;
use crate::pool::{Lease, Pool};
use crate::stream::{self, StreamingOutcome};

/// How an invocation came back: whole, or as a stream still being sent.
pub enum Run {
    Done(InvokeOutcome),
    Streaming(StreamingOutcome),
}

/// Runs one invocation; `Ok(None)` means the pool was retired: look up again.
pub(crate) async fn run(pool: &Arc<Pool>, req: InvokeRequest) -> Result<Option<Run>, InvokeError> {
    let request_id: Arc<str> = match &req.request_id {
        Some(id) => id.as_str().into(),
        None => uuid::Uuid::new_v4().to_string().into(),
    };
    let mut checkout = match pool.checkout(request_id.clone(), true).await? {
        Lease::Out(c) => c,
        Lease::Retired => return Ok(None),
        Lease::Failed(e) => return Ok(Some(Run::Done(failed(pool, &request_id, e)))),
    };
    let inst = checkout.instance().clone();
    checkout.begun = std::time::Instant::now();
    let ran = inst.invoke(req, request_id.clone(), &pool.spec).await;
    if let Some(streamed) = ran.stream {
        return Ok(Some(Run::Streaming(stream::hand_out(
            checkout, streamed, &pool.spec,
        ))));
    }
    if ran.result.is_err() {
        inc(&pool.node.metrics.function_errors);
    }
    let cold_start = checkout.cold;
    let init = checkout.cold_start(0.0);
    let (duration_ms, log_tail) = checkout.finish(Verdict {
        failed: ran.result.is_err(),
        death: ran.death,
        crash_error: ran.result.clone().err(),
    });
    Ok(Some(Run::Done(InvokeOutcome {
        request_id: request_id.to_string(),
        executed_version: pool.spec.version.to_string(),
        result: ran.result,
        log_tail,
        cold_start,
        duration_ms,
        phases: init.map(|p| ColdStart { duration_ms, ..p }),
    })))
}

/// The outcome of an invocation no instance would start for.
fn failed(pool: &Pool, request_id: &str, e: FunctionError) -> InvokeOutcome {
    InvokeOutcome {
        request_id: request_id.to_string(),
        executed_version: pool.spec.version.to_string(),
        result: Err(e),
        log_tail: None,
        cold_start: true,
        duration_ms: 0.0,
        phases: None,
    }
}
