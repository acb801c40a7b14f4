//! `GET /ondol/v1/cost`: a month's usage per function, version and stage, priced
//! as AWS Lambda + API Gateway HTTP API would (month to date and projected to
//! month end), and the budgets: judged after each flush, warned at 80 % and 100 %
//! once per month, optionally with an async invoke of an alert function.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Json, Response};
use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use ondol_core::manifest::Budget;
use ondol_telemetry::cost::{Bill, Prices, Usage};
use ondol_telemetry::UsageRow;
use serde::Serialize;
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::Api;

/// Budget thresholds, in percent of the monthly amount.
const THRESHOLDS: [u32; 2] = [80, 100];

/// A calendar month (UTC) as bounds in seconds since the epoch.
struct Month {
    name: String,
    from_s: i64,
    to_s: i64,
}

impl Month {
    fn parse(m: Option<&str>) -> Result<Self> {
        let now = Utc::now();
        let (y, mo) = match m {
            None => (now.year(), now.month()),
            Some(s) => {
                let bad =
                    || ApiError::InvalidParameter(format!("month: expected YYYY-MM, got {s:?}"));
                let (y, mo) = s.split_once('-').ok_or_else(bad)?;
                (
                    y.parse().map_err(|_| bad())?,
                    mo.parse().map_err(|_| bad())?,
                )
            }
        };
        let start = NaiveDate::from_ymd_opt(y, mo, 1)
            .ok_or_else(|| ApiError::InvalidParameter(format!("month: no month {y}-{mo:02}")))?;
        let next = if mo == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, mo + 1, 1)
        }
        .expect("the first of a month");
        let ts = |d: NaiveDate| {
            Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
                .timestamp()
        };
        Ok(Self {
            name: format!("{y}-{mo:02}"),
            from_s: ts(start),
            to_s: ts(next),
        })
    }

    /// How much of the month has gone (1 for a past month, 0 before it starts).
    fn elapsed_share(&self) -> f64 {
        let now = Utc::now().timestamp();
        ((now - self.from_s) as f64 / (self.to_s - self.from_s) as f64).clamp(0.0, 1.0)
    }
}

/// One function version's line of usage.
#[derive(Serialize)]
struct FunctionUsage {
    #[serde(flatten)]
    row: UsageRow,
    gb_seconds: f64,
    /// Of `gb_seconds`, what ran within `min_warm` (the provisioned duration rate).
    provisioned_duration_gb_seconds: f64,
    provisioned_gb_seconds: f64,
}

/// A budget and where the month stands against it.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetState {
    /// `node` or `app:<name>`.
    pub scope: String,
    pub month: String,
    pub monthly_usd: f64,
    pub spent_usd: f64,
    pub percent: f64,
    /// `ok`, `warning` (80 % or more) or `exceeded` (100 % or more).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_function: Option<String>,
}

fn totals(rows: &[UsageRow]) -> Usage {
    let mut u = Usage::default();
    for r in rows {
        u.requests += r.requests as f64;
        u.gb_seconds += r.on_demand_gb_seconds();
        u.provisioned_duration_gb_seconds += r.provisioned_duration_gb_seconds();
        u.provisioned_gb_seconds += r.provisioned_gb_seconds();
        u.http_requests += r.http_requests as f64;
    }
    u
}

fn scaled(u: &Usage, k: f64) -> Usage {
    Usage {
        requests: u.requests * k,
        gb_seconds: u.gb_seconds * k,
        provisioned_duration_gb_seconds: u.provisioned_duration_gb_seconds * k,
        provisioned_gb_seconds: u.provisioned_gb_seconds * k,
        http_requests: u.http_requests * k,
    }
}

impl Api {
    /// The functions of an app: those its stages route or schedule to, and those
    /// deployed under its name (`<app>-<function>`).
    fn app_functions(&self, app: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for a in self.store.list_apps()?.iter().filter(|a| a.app == app) {
            out.extend(a.routes.iter().map(|r| r.function.clone()));
            out.extend(a.schedules.iter().map(|s| s.function.clone()));
        }
        let prefix = format!("{app}-");
        for f in self.store.list_functions()? {
            if f.config.name.starts_with(&prefix) {
                out.push(f.config.name);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A month's rows, narrowed to an app and a stage.
    fn month_rows(
        &self,
        m: &Month,
        app: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Vec<UsageRow>> {
        let mut rows = self
            .cost
            .usage
            .between(m.from_s / 3600, m.to_s / 3600)
            .map_err(|e| ApiError::Service(e.to_string()))?;
        if let Some(app) = app {
            let fns = self.app_functions(app)?;
            rows.retain(|r| fns.contains(&r.function));
        }
        if let Some(stage) = stage {
            rows.retain(|r| r.stage == stage);
        }
        Ok(rows)
    }

    /// The month-to-date AWS-equivalent cost of a scope.
    fn spent(&self, m: &Month, app: Option<&str>, prices: &Prices) -> Result<f64> {
        let rows = self.month_rows(m, app, None)?;
        let p = prices
            .region(&self.cost.region)
            .map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
        let free = self.cost.free_tier.then_some(&prices.free_tier);
        Ok(Bill::price(&totals(&rows), p, free).total_usd)
    }

    /// Every budget (the node's and each app's) against this month's cost: the
    /// hook a metric exports.
    pub fn budget_states(&self) -> Result<Vec<BudgetState>> {
        let m = Month::parse(None)?;
        let prices = Prices::builtin();
        let mut scopes: Vec<(String, Option<String>, Budget)> = Vec::new();
        if let Some(usd) = self.cost.node_budget_usd {
            let b = Budget {
                monthly_usd: usd,
                alert_function: None,
            };
            scopes.push(("node".into(), None, b));
        }
        for a in self.store.list_apps()? {
            if let Some(b) = a.budget.clone() {
                if !scopes
                    .iter()
                    .any(|(_, app, _)| app.as_deref() == Some(a.app.as_str()))
                {
                    scopes.push((format!("app:{}", a.app), Some(a.app.clone()), b));
                }
            }
        }
        let mut out = Vec::new();
        for (scope, app, b) in scopes {
            let spent = self.spent(&m, app.as_deref(), &prices)?;
            let percent = spent / b.monthly_usd * 100.0;
            let state = match percent {
                p if p >= 100.0 => "exceeded",
                p if p >= 80.0 => "warning",
                _ => "ok",
            };
            out.push(BudgetState {
                scope,
                month: m.name.clone(),
                monthly_usd: b.monthly_usd,
                spent_usd: spent,
                percent,
                state,
                alert_function: b.alert_function,
            });
        }
        Ok(out)
    }

    /// Warns once per threshold and month, and invokes the alert function if any.
    pub fn judge_budgets(&self) {
        let states = match self.budget_states() {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "could not judge budgets"),
        };
        for s in states {
            for t in THRESHOLDS
                .into_iter()
                .filter(|t| s.percent >= f64::from(*t))
            {
                let now_ms = Utc::now().timestamp_millis();
                match self.cost.usage.alert_once(&s.month, &s.scope, t, now_ms) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => return tracing::warn!(error = %e, "could not record a budget alert"),
                }
                tracing::warn!(
                    scope = %s.scope, month = %s.month, threshold = t,
                    spent_usd = format!("{:.2}", s.spent_usd), monthly_usd = s.monthly_usd,
                    "budget: {}% of the month's budget reached (AWS-equivalent cost)", t
                );
                if let Some(f) = &s.alert_function {
                    let event =
                        json!({"source": "ondol.budget", "threshold_percent": t, "budget": s});
                    if let Err(e) =
                        self.events
                            .enqueue(f, None, event.to_string().into_bytes(), None)
                    {
                        tracing::warn!(function = %f, error = %e, "could not queue the budget alert");
                    }
                }
            }
        }
    }

    fn cost_report(&self, q: &HashMap<String, String>) -> Result<serde_json::Value> {
        let m = Month::parse(q.get("month").map(String::as_str))?;
        let prices = Prices::builtin();
        let region = q
            .get("region")
            .cloned()
            .unwrap_or_else(|| self.cost.region.clone());
        let p = prices
            .region(&region)
            .map_err(|e| ApiError::InvalidParameter(e.to_string()))?;
        let free_tier = match q.get("free_tier").map(String::as_str) {
            None => self.cost.free_tier,
            Some("true" | "1" | "on") => true,
            Some("false" | "0" | "off") => false,
            Some(v) => {
                return Err(ApiError::InvalidParameter(format!(
                    "free_tier: expected true or false, got {v:?}"
                )))
            }
        };
        let free = free_tier.then_some(&prices.free_tier);
        let rows = self.month_rows(
            &m,
            q.get("app").map(String::as_str),
            q.get("stage").map(String::as_str),
        )?;
        let usage = totals(&rows);
        let share = m.elapsed_share();
        let projected = if share > 0.0 {
            scaled(&usage, 1.0 / share)
        } else {
            usage
        };
        let mtd = Bill::price(&usage, p, free);
        let proj = Bill::price(&projected, p, free);
        let functions: Vec<FunctionUsage> = rows
            .into_iter()
            .map(|r| FunctionUsage {
                gb_seconds: r.gb_seconds(),
                provisioned_duration_gb_seconds: r.provisioned_duration_gb_seconds(),
                provisioned_gb_seconds: r.provisioned_gb_seconds(),
                row: r,
            })
            .collect();
        Ok(json!({
            "month": m.name,
            "app": q.get("app"),
            "stage": q.get("stage"),
            "region": region,
            "region_name": p.name,
            "free_tier": free_tier,
            "prices": {"version": prices.version, "read_on": prices.read_on, "sources": prices.sources},
            "month_elapsed": share,
            "usage": usage,
            "functions": functions,
            "month_to_date": {"total_formula": mtd.total_formula(), "bill": mtd},
            "projected": {"usage": projected, "total_formula": proj.total_formula(), "bill": proj},
            "budgets": self.budget_states()?,
        }))
    }
}

/// `GET /ondol/v1/cost?app=&stage=&month=YYYY-MM&region=&free_tier=`
pub async fn cost(
    State(api): State<Arc<Api>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    // What this server counted but has not flushed yet is part of the answer.
    let v = Api::blocking(move || {
        api.flush_usage();
        api.cost_report(&q)
    })
    .await?;
    Ok(Json(v).into_response())
}
