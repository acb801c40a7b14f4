//! The shapes of the server's reports the CLI prints (cost, schedules, runtimes).
//! `--json` prints the server's answer as it came; these are read from it for the
//! human form, every field defaulted so a missing one prints empty.

use serde::{Deserialize, Deserializer};

/// A field's value, or its default when it is missing or `null` (as the untyped
/// reading treated both).
pub fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `/ondol/v1/cost`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CostReport {
    #[serde(deserialize_with = "or_default")]
    pub month: String,
    #[serde(deserialize_with = "or_default")]
    pub region: String,
    #[serde(deserialize_with = "or_default")]
    pub region_name: String,
    #[serde(deserialize_with = "or_default")]
    pub free_tier: bool,
    #[serde(deserialize_with = "or_default")]
    pub prices: PricesVersion,
    #[serde(deserialize_with = "or_default")]
    pub functions: Vec<FunctionCost>,
    #[serde(deserialize_with = "or_default")]
    pub month_to_date: CostBill,
    #[serde(deserialize_with = "or_default")]
    pub projected: CostBill,
    pub month_elapsed: Option<f64>,
    #[serde(deserialize_with = "or_default")]
    pub budgets: Vec<Budget>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PricesVersion {
    #[serde(deserialize_with = "or_default")]
    pub version: String,
}

/// One function version's usage this month.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FunctionCost {
    #[serde(deserialize_with = "or_default")]
    pub function: String,
    #[serde(deserialize_with = "or_default")]
    pub version: String,
    pub stage: Option<String>,
    #[serde(deserialize_with = "or_default")]
    pub requests: u64,
    #[serde(deserialize_with = "or_default")]
    pub gb_seconds: f64,
    #[serde(deserialize_with = "or_default")]
    pub provisioned_duration_gb_seconds: f64,
    #[serde(deserialize_with = "or_default")]
    pub provisioned_gb_seconds: f64,
}

/// A bill: its lines, each with its formula, and the total's formula.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CostBill {
    #[serde(deserialize_with = "or_default")]
    pub bill: BillLines,
    #[serde(deserialize_with = "or_default")]
    pub total_formula: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BillLines {
    #[serde(deserialize_with = "or_default")]
    pub lines: Vec<BillLine>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BillLine {
    #[serde(deserialize_with = "or_default")]
    pub item: String,
    #[serde(deserialize_with = "or_default")]
    pub formula: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Budget {
    #[serde(deserialize_with = "or_default")]
    pub scope: String,
    #[serde(deserialize_with = "or_default")]
    pub spent_usd: f64,
    #[serde(deserialize_with = "or_default")]
    pub monthly_usd: f64,
    #[serde(deserialize_with = "or_default")]
    pub percent: f64,
    #[serde(deserialize_with = "or_default")]
    pub state: String,
}

/// One schedule of `/ondol/v1/schedules`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Schedule {
    #[serde(deserialize_with = "or_default")]
    pub app: String,
    pub stage: Option<String>,
    #[serde(deserialize_with = "or_default")]
    pub name: String,
    #[serde(deserialize_with = "or_default")]
    pub function: String,
    #[serde(deserialize_with = "or_default")]
    pub expression: String,
    #[serde(deserialize_with = "or_default")]
    pub timezone: String,
    pub next: Option<String>,
    #[serde(deserialize_with = "or_default")]
    pub runs: Vec<ScheduleRun>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ScheduleRun {
    #[serde(deserialize_with = "or_default")]
    pub slot_ms: i64,
    #[serde(deserialize_with = "or_default")]
    pub outcome: String,
    #[serde(deserialize_with = "or_default")]
    pub request_id: String,
}

/// One runtime of `/ondol/v1/runtimes`: its interpreter, or why it has none.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Runtime {
    #[serde(deserialize_with = "or_default")]
    pub runtime: String,
    pub version: Option<String>,
    pub path: Option<String>,
    pub alias_of: Option<String>,
    #[serde(deserialize_with = "or_default")]
    pub error: String,
}
