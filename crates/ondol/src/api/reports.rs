//! The shapes of the server's reports the CLI prints (cost, schedules, runtimes).
//! `--json` prints the server's answer as it came; these are read from it for the
//! human form, every field defaulted so a missing one prints empty.

use serde::Deserialize;

/// `/ondol/v1/cost`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CostReport {
    pub month: String,
    pub region: String,
    pub region_name: String,
    pub free_tier: bool,
    pub prices: PricesVersion,
    pub functions: Vec<FunctionCost>,
    pub month_to_date: CostBill,
    pub projected: CostBill,
    pub month_elapsed: Option<f64>,
    pub budgets: Vec<Budget>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PricesVersion {
    pub version: String,
}

/// One function version's usage this month.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FunctionCost {
    pub function: String,
    pub version: String,
    pub stage: Option<String>,
    pub requests: u64,
    pub gb_seconds: f64,
    pub provisioned_duration_gb_seconds: f64,
    pub provisioned_gb_seconds: f64,
}

/// A bill: its lines, each with its formula, and the total's formula.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CostBill {
    pub bill: BillLines,
    pub total_formula: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BillLines {
    pub lines: Vec<BillLine>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BillLine {
    pub item: String,
    pub formula: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Budget {
    pub scope: String,
    pub spent_usd: f64,
    pub monthly_usd: f64,
    pub percent: f64,
    pub state: String,
}

/// One schedule of `/ondol/v1/schedules`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Schedule {
    pub app: String,
    pub stage: Option<String>,
    pub name: String,
    pub function: String,
    pub expression: String,
    pub timezone: String,
    pub next: Option<String>,
    pub runs: Vec<ScheduleRun>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ScheduleRun {
    pub slot_ms: i64,
    pub outcome: String,
    pub request_id: String,
}

/// One runtime of `/ondol/v1/runtimes`: its interpreter, or why it has none.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Runtime {
    pub runtime: String,
    pub version: Option<String>,
    pub path: Option<String>,
    pub alias_of: Option<String>,
    pub error: String,
}
