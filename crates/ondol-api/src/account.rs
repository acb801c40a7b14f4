//! GetAccountSettings: the node's real limits and usage (concurrency from the
//! `--concurrency-limit` the reservations come out of).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde_json::json;

use crate::error::Result;
use crate::functions::ok_json;
use crate::Api;

pub async fn settings(State(api): State<Arc<Api>>) -> Result<Response> {
    let store = api.store.clone();
    let all = Api::blocking(move || Ok(store.list_functions()?)).await?;
    let mut shas: Vec<(&str, u64)> = Vec::new();
    for r in &all {
        shas.push((&r.code_sha256, r.code_size));
        shas.extend(
            r.versions
                .iter()
                .map(|v| (v.code_sha256.as_str(), v.code_size)),
        );
    }
    shas.sort();
    shas.dedup();
    let total: u64 = shas.iter().map(|(_, s)| s).sum();
    let reserved: u64 = all
        .iter()
        .filter_map(|r| r.reserved_concurrency)
        .map(u64::from)
        .sum();
    let (budget_mb, _) = api.engine.memory_budget();
    let concurrent = u64::from(api.concurrency.limit);
    Ok(ok_json(
        StatusCode::OK,
        json!({
            "AccountLimit": {
                "TotalCodeSize": 75u64 * 1024 * 1024 * 1024,
                "CodeSizeUnzipped": 250u64 * 1024 * 1024,
                "CodeSizeZipped": api.max_code_bytes,
                "ConcurrentExecutions": concurrent,
                "UnreservedConcurrentExecutions": concurrent.saturating_sub(reserved),
            },
            "AccountUsage": {
                "TotalCodeSize": total,
                "FunctionCount": all.len(),
            },
            "Ondol": {
                "MemoryBudgetMb": budget_mb,
                "UnreservedConcurrentExecutionsMinimum": api.concurrency.unreserved_min,
            },
        }),
    ))
}
