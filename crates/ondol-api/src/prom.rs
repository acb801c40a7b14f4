//! Prometheus exposition (`GET /metrics`, OpenMetrics text): everything is read at
//! scrape time from the counters the request paths bump with atomics (engine,
//! front door, async queue) and from the store (queue depth), never kept here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, StatusCode};
use ondol_core::stats::Snapshot;
use ondol_engine::VersionSnapshot;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::error::{ApiError, Result};
use crate::Api;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// Deploys recorded since start, by (app, stage, outcome).
pub(crate) type DeployCounts = parking_lot::Mutex<BTreeMap<(String, String, &'static str), u64>>;

/// A deploy's outcome as the metrics label it.
pub(crate) fn deploy_outcome(outcome: &str) -> &'static str {
    if outcome.starts_with("rolled back") {
        "rolled_back"
    } else if outcome.starts_with("failed") {
        "failed"
    } else {
        "deployed"
    }
}

/// One async queue's state: (function, events waiting, age of the oldest in s).
type QueueRow = (String, u64, f64);

/// Everything one scrape reports, gathered before encoding.
#[derive(Debug)]
struct Scrape {
    versions: Vec<VersionSnapshot>,
    /// The node's cold starts, one histogram per phase.
    cold_start_phases: Vec<(&'static str, Snapshot)>,
    concurrent: u64,
    budget_mb: (u64, u64),
    node: serde_json::Value,
    queues: Vec<QueueRow>,
    retries: u64,
    dead_letters: u64,
    routes: Vec<ondol_core::front_stats::RouteSnapshot>,
    deploys: Vec<((String, String, &'static str), u64)>,
    /// Each budget's month so far (node and apps).
    budgets: Vec<crate::cost::BudgetState>,
}

/// `GET /metrics`.
pub async fn metrics(State(api): State<Arc<Api>>) -> Result<Response> {
    let scrape = gather(&api).await?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut out = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .map_err(|e| ApiError::Service(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response())
}

/// `/metrics` on its own listener: with a token, only `Authorization: Bearer <token>`.
pub async fn metrics_with_token(
    State((api, token)): State<(Arc<Api>, Option<Arc<str>>)>,
    headers: HeaderMap,
) -> Result<Response> {
    if let Some(token) = token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), token.as_bytes())) {
            return Ok((
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a bearer token is required (--metrics-token)\n",
            )
                .into_response());
        }
    }
    metrics(State(api)).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn gather(api: &Arc<Api>) -> Result<Scrape> {
    let queues = crate::queues::depths(api).await?;
    let priced = api.clone();
    let budgets = tokio::task::spawn_blocking(move || priced.budget_states())
        .await
        .map_err(|e| ApiError::Service(e.to_string()))??;
    let counters = &api.events.counters;
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    Ok(Scrape {
        versions: api.engine.version_snapshots(),
        cold_start_phases: api.engine.cold_start_phases().histograms(),
        concurrent: api.engine.concurrent() as u64,
        budget_mb: api.engine.memory_budget(),
        node: api.engine.metrics().snapshot(),
        queues: queues
            .into_iter()
            .map(|d| (d.function, d.waiting, d.oldest_age_seconds))
            .collect(),
        retries: counters.retries.load(relaxed),
        dead_letters: counters.dead_letters.load(relaxed),
        routes: api.front_stats.snapshot(),
        deploys: api
            .deploy_counts
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        budgets,
    })
}

fn fv(v: &VersionSnapshot) -> Labels {
    vec![
        ("function", v.function.clone()),
        ("version", v.version.clone()),
    ]
}

fn with(mut l: Labels, k: &'static str, v: &str) -> Labels {
    l.push((k, v.to_string()));
    l
}

/// One family of counters (OpenMetrics adds `_total`).
fn counters(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, u64)>,
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauges(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: impl IntoIterator<Item = (Labels, f64)>,
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// One family of histograms in seconds (the name gets `_seconds`).
fn histograms<'a>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, &'a Snapshot)>,
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for (labels, s) in rows {
        m.encode_family(&labels)?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                s.sum_seconds,
                s.count,
                &s.buckets,
                None,
            )?;
    }
    Ok(())
}

impl prometheus_client::collector::Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        self.encode_invocations(&mut enc)?;
        self.encode_node(&mut enc)?;
        self.encode_events(&mut enc)?;
        self.encode_budgets(&mut enc)?;
        self.encode_front_door(&mut enc)
    }
}

impl Scrape {
    fn encode_invocations(&self, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        let vs = &self.versions;
        counters(
            enc,
            "ondol_invocations",
            "Invocations by function, version and outcome (success, error, throttle, timeout).",
            vs.iter().flat_map(|v| {
                v.outcomes
                    .iter()
                    .map(move |(o, n)| (with(fv(v), "outcome", o.as_str()), *n))
            }),
        )?;
        counters(
            enc,
            "ondol_cold_starts",
            "Invocations that waited for a new instance's init.",
            vs.iter().map(|v| (fv(v), v.cold_starts)),
        )?;
        counters(
            enc,
            "ondol_throttles",
            "Requests refused by a limit, by reason (max_concurrency, memory_budget, queue_full).",
            vs.iter().flat_map(|v| {
                v.throttles
                    .iter()
                    .map(move |(r, n)| (with(fv(v), "reason", r.as_str()), *n))
            }),
        )?;
        histograms(
            enc,
            "ondol_invocation_duration",
            "Invocation duration, from reaching the instance to the response (REPORT's Duration).",
            vs.iter().map(|v| (fv(v), &v.duration)),
        )?;
        histograms(
            enc,
            "ondol_init_duration",
            "Init duration of the cold starts invocations waited for (REPORT's Init Duration).",
            vs.iter().map(|v| (fv(v), &v.init)),
        )?;
        histograms(
            enc,
            "ondol_queue_wait",
            "Time requests that found no free capacity waited for it before they ran.",
            vs.iter().map(|v| (fv(v), &v.queue_wait)),
        )?;
        histograms(
            enc,
            "ondol_cold_start_phase",
            "Cold invocations node-wide, by phase: queue_wait, process_start, runtime_ready, init (handler imported), duration.",
            self.cold_start_phases
                .iter()
                .map(|(p, s)| (vec![("phase", p.to_string())], s)),
        )?;
        gauges(
            enc,
            "ondol_instances",
            "Instances by state (idle, busy, starting).",
            None,
            vs.iter().flat_map(|v| {
                let p = &v.pool;
                let busy = p.ready.saturating_sub(p.idle);
                [("idle", p.idle), ("busy", busy), ("starting", p.starting)]
                    .map(|(s, n)| (with(fv(v), "state", s), f64::from(n)))
            }),
        )?;
        gauges(
            enc,
            "ondol_waiting_requests",
            "Requests waiting for capacity now.",
            None,
            vs.iter().map(|v| (fv(v), f64::from(v.pool.waiting))),
        )
    }

    fn encode_node(&self, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        gauges(
            enc,
            "ondol_concurrent_executions",
            "Requests running in an instance now, node-wide.",
            None,
            [(vec![], self.concurrent as f64)],
        )?;
        let (limit, used) = self.budget_mb;
        gauges(
            enc,
            "ondol_memory_budget_used",
            "Memory reserved by running and starting instances (memory_mb each).",
            Some(&Unit::Bytes),
            [(vec![], (used * 1024 * 1024) as f64)],
        )?;
        gauges(
            enc,
            "ondol_memory_budget",
            "The node memory budget (--memory-budget-mb).",
            Some(&Unit::Bytes),
            [(vec![], (limit * 1024 * 1024) as f64)],
        )?;
        let n = |k: &str| self.node[k].as_u64().unwrap_or(0);
        counters(
            enc,
            "ondol_init_failures",
            "Instance starts whose init failed.",
            [(vec![], n("init_failures"))],
        )?;
        counters(
            enc,
            "ondol_instance_crashes",
            "Instances that died during an invocation (not timeouts).",
            [(vec![], n("crashes") + n("out_of_memory"))],
        )?;
        counters(
            enc,
            "ondol_evictions",
            "Idle instances stopped to free memory for another function.",
            [(vec![], n("evictions"))],
        )?;
        counters(enc, "ondol_deploys", "Deploys recorded by `ondol deploy`/`rollback`, by app, stage and outcome (deployed, failed, rolled_back).",
            self.deploys.iter().map(|((a, s, o), n)| (vec![("app", a.clone()), ("stage", s.clone()), ("outcome", o.to_string())], *n)))?;
        counters(
            enc,
            "ondol_rollbacks",
            "Deploys that were rollbacks, by app and stage.",
            self.deploys
                .iter()
                .filter(|((_, _, o), _)| *o == "rolled_back")
                .map(|((a, s, _), n)| (vec![("app", a.clone()), ("stage", s.clone())], *n)),
        )
    }

    fn encode_events(&self, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        gauges(
            enc,
            "ondol_async_queue_depth",
            "Async events stored and not yet delivered, by function.",
            None,
            self.queues
                .iter()
                .map(|(f, n, _)| (vec![("function", f.clone())], *n as f64)),
        )?;
        gauges(
            enc,
            "ondol_async_oldest_event_age",
            "Age of the oldest undelivered async event, by function.",
            Some(&Unit::Seconds),
            self.queues
                .iter()
                .map(|(f, _, age)| (vec![("function", f.clone())], *age)),
        )?;
        counters(
            enc,
            "ondol_async_retries",
            "Failed async deliveries scheduled again.",
            [(vec![], self.retries)],
        )?;
        counters(
            enc,
            "ondol_async_dead_letters",
            "Async events given up and stored as dead letters.",
            [(vec![], self.dead_letters)],
        )
    }

    fn encode_budgets(&self, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        let scope = |b: &crate::cost::BudgetState| vec![("scope", b.scope.clone())];
        gauges(
            enc,
            "ondol_budget_monthly_usd",
            "A budget's monthly amount in USD (node, or app:<name>).",
            None,
            self.budgets.iter().map(|b| (scope(b), b.monthly_usd)),
        )?;
        gauges(
            enc,
            "ondol_budget_spent_usd",
            "This month's AWS-equivalent cost so far against that budget, in USD.",
            None,
            self.budgets.iter().map(|b| (scope(b), b.spent_usd)),
        )
    }

    fn encode_front_door(&self, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        counters(
            enc,
            "ondol_http_requests",
            "Front-door requests by route (`-`: none matched) and status.",
            self.routes.iter().flat_map(|(r, statuses, _)| {
                statuses
                    .iter()
                    .map(move |(s, n)| (vec![("route", r.clone()), ("status", s.to_string())], *n))
            }),
        )?;
        histograms(
            enc,
            "ondol_http_request_duration",
            "Front-door request latency, to the response head.",
            self.routes
                .iter()
                .map(|(r, _, l)| (vec![("route", r.clone())], l)),
        )
    }
}
