//! `GET /ondol/v1/queues`: each function's async queue (events waiting, age of the
//! oldest) and dead letters, for the console; the depths also feed `/metrics`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::Result;
use crate::Api;

/// One function's async queue: events waiting and the oldest one's age in seconds.
pub(crate) struct Depth {
    pub function: String,
    pub waiting: u64,
    pub oldest_age_seconds: f64,
}

/// The async queues that hold events now, by function name.
pub(crate) async fn depths(api: &Arc<Api>) -> Result<Vec<Depth>> {
    let queue = api.queue.clone();
    let queued = Api::blocking(move || Ok(queue.queued(None)?)).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut by_fn: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    for ev in &queued {
        let q = by_fn.entry(ev.function.clone()).or_insert((0, now));
        q.0 += 1;
        q.1 = q.1.min(ev.enqueued_ms);
    }
    Ok(by_fn
        .into_iter()
        .map(|(function, (waiting, oldest))| Depth {
            function,
            waiting,
            oldest_age_seconds: (now - oldest).max(0) as f64 / 1000.0,
        })
        .collect())
}

/// `GET /ondol/v1/queues`: every function with events waiting or dead letters.
pub async fn list(State(api): State<Arc<Api>>) -> Result<Response> {
    let depths = depths(&api).await?;
    let (store, queue) = (api.store.clone(), api.queue.clone());
    // Counted by the store: the letters' payloads are not read for this view.
    let dead = Api::blocking(move || {
        let known: std::collections::BTreeSet<String> = store
            .list_functions()?
            .into_iter()
            .map(|f| f.config.name)
            .collect();
        let mut counts = queue.dead_letter_counts()?;
        counts.retain(|(f, _)| known.contains(f));
        Ok(counts)
    })
    .await?;
    let mut rows: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for d in depths {
        rows.insert(
            d.function.clone(),
            json!({"function": d.function, "depth": d.waiting, "oldest_age_seconds": d.oldest_age_seconds, "dead_letters": 0}),
        );
    }
    for (f, n) in dead {
        rows.entry(f.clone())
            .or_insert_with(|| json!({"function": f, "depth": 0, "oldest_age_seconds": null}))
            ["dead_letters"] = json!(n);
    }
    Ok(Json(json!({ "queues": rows.into_values().collect::<Vec<_>>() })).into_response())
}
