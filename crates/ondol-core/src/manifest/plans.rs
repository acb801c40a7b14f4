//! `[usage_plans.NAME]`: how much one API key may call an app (a token bucket of
//! `rate`/`burst` and a `quota` per day, week or month), as API Gateway's usage
//! plans. Keys name a plan of their app (`ondol keys create --plan`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RateLimit;
use crate::name::valid_name;

/// `[usage_plans.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsagePlanDef {
    /// Steady requests per second per key (default: no throttle).
    pub rate: Option<f64>,
    /// Requests a key may send at once above `rate` (default: `rate` rounded up).
    pub burst: Option<u32>,
    /// Requests per period per key (default: no quota).
    pub quota: Option<QuotaDef>,
}

/// `quota = { limit = 1000, period = "day" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaDef {
    pub limit: u64,
    /// `day`, `week` (from Monday) or `month`, in UTC.
    pub period: String,
}

/// A resolved usage plan, as the front door applies it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UsagePlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub limit: u64,
    pub period: QuotaPeriod,
}

/// A quota's window; every window starts at 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    Day,
    /// From Monday.
    Week,
    Month,
}

impl QuotaPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// Resolves `[usage_plans]`; an error is (key, what was expected).
pub fn resolve_plans(
    defs: BTreeMap<String, UsagePlanDef>,
) -> Result<BTreeMap<String, UsagePlan>, (String, String)> {
    let mut out = BTreeMap::new();
    for (name, d) in defs {
        let at = |k: &str| format!("usage_plans.{name}.{k}");
        if !valid_name(&name) {
            return Err((
                format!("usage_plans.{name}"),
                "expected a plan name of [a-zA-Z0-9-_]".into(),
            ));
        }
        let rate = match d.rate {
            Some(r) => Some(RateLimit {
                rps: r,
                burst: d.burst.unwrap_or(r.ceil() as u32).max(1),
            }),
            None if d.burst.is_some() => {
                return Err((at("burst"), "a burst needs a rate: add rate = N".into()))
            }
            None => None,
        };
        let quota = match d.quota {
            Some(q) => Some(Quota {
                limit: q.limit,
                period: match q.period.as_str() {
                    "day" => QuotaPeriod::Day,
                    "week" => QuotaPeriod::Week,
                    "month" => QuotaPeriod::Month,
                    other => {
                        return Err((
                            at("quota.period"),
                            format!("expected \"day\", \"week\" or \"month\", got {other:?}"),
                        ))
                    }
                },
            }),
            None => None,
        };
        let plan = UsagePlan { rate, quota };
        check_plan(&plan).map_err(|(k, m)| (at(k), m))?;
        out.insert(name, plan);
    }
    Ok(out)
}

/// Checks a plan as stored (the server gets plans from any client).
pub fn check_plan(p: &UsagePlan) -> Result<(), (&'static str, String)> {
    if let Some(r) = p.rate {
        if !r.rps.is_finite() || r.rps <= 0.0 {
            return Err(("rate", "expected requests per second above 0".into()));
        }
        if r.burst == 0 {
            return Err(("burst", "expected at least 1".into()));
        }
    }
    if p.quota.is_some_and(|q| q.limit == 0) {
        return Err(("quota.limit", "expected at least 1 request".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans(text: &str) -> Result<BTreeMap<String, UsagePlan>, (String, String)> {
        let defs: BTreeMap<String, UsagePlanDef> = toml::from_str(text).unwrap();
        resolve_plans(defs)
    }

    #[test]
    fn resolves_and_refuses() {
        let p = plans("[basic]\nrate = 2\nquota = { limit = 5, period = \"day\" }\n").unwrap();
        let b = p["basic"];
        assert_eq!(b.rate.unwrap().burst, 2);
        assert_eq!(b.quota.unwrap().period, QuotaPeriod::Day);
        let e = plans("[x]\nquota = { limit = 5, period = \"year\" }\n").unwrap_err();
        assert_eq!(e.0, "usage_plans.x.quota.period");
        assert_eq!(
            plans("[x]\nrate = 0\n").unwrap_err().0,
            "usage_plans.x.rate"
        );
        assert_eq!(
            plans("[x]\nburst = 3\n").unwrap_err().0,
            "usage_plans.x.burst"
        );
    }
}
