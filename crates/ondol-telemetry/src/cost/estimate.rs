//! The what-if estimator: a steady workload (requests a day, duration, memory)
//! priced a month at a time on demand, with provisioned concurrency, with a
//! keep-warm ping, and times its stages; plus what ondol's warm pool holds.

use serde::Serialize;

use super::bill::{Bill, Usage};
use super::fmt::{count, usd};
use super::prices::{Prices, RegionPrices};
use super::CostError;

/// A month is 30 days here, as AWS's own examples count it.
pub const DAYS: f64 = 30.0;

/// The workload and the options asked about.
#[derive(Debug, Clone, Serialize)]
pub struct EstimateInput {
    pub requests_per_day: f64,
    pub duration_ms: f64,
    pub memory_mb: u32,
    /// A ping every this many minutes keeps one instance warm per stage.
    pub keep_warm_minutes: Option<f64>,
    /// Provisioned concurrency (instances kept ready) per stage.
    pub provisioned: Option<u32>,
    pub stages: u32,
    pub region: String,
    pub free_tier: bool,
}

/// One priced scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: &'static str,
    /// How its usage was reckoned.
    pub usage_formulas: Vec<String>,
    pub usage: Usage,
    pub bill: Bill,
}

#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub input: EstimateInput,
    pub prices: String,
    pub region_name: String,
    pub scenarios: Vec<Scenario>,
    /// ondol's own cost: memory its warm instances hold on this node, in MB.
    pub ondol_warm_mb: u64,
    pub ondol_formula: String,
}

pub fn estimate(prices: &Prices, input: EstimateInput) -> Result<Estimate, CostError> {
    let p = prices.region(&input.region)?;
    let free = input.free_tier.then_some(&prices.free_tier);
    let gb = f64::from(input.memory_mb) / 1024.0;
    let billed_s = input.duration_ms.ceil().max(1.0) / 1000.0;
    let requests = input.requests_per_day * DAYS;
    let base = Usage {
        requests,
        gb_seconds: requests * billed_s * gb,
        provisioned_duration_gb_seconds: 0.0,
        provisioned_gb_seconds: 0.0,
        http_requests: requests,
    };
    let base_f = vec![
        format!(
            "{} req/day × {DAYS} days = {} req",
            count(input.requests_per_day),
            count(requests)
        ),
        format!(
            "{} req × {billed_s} s × {gb} GB = {} GB-s",
            count(requests),
            base.gb_seconds
        ),
    ];
    let mut scenarios = vec![Scenario {
        name: "on_demand",
        usage_formulas: base_f.clone(),
        usage: base,
        bill: Bill::price(&base, p, free),
    }];
    if let Some(n) = input.provisioned {
        scenarios.push(provisioned(p, &base, &base_f, n, gb));
    }
    if let Some(every) = input.keep_warm_minutes.filter(|m| *m > 0.0) {
        let pings = (DAYS * 24.0 * 60.0 / every).ceil();
        let mut u = base;
        u.requests += pings;
        u.gb_seconds += pings * 0.001 * gb;
        let mut f = base_f.clone();
        f.push(format!(
            "{DAYS} days × 1,440 min ÷ {every} min = {} pings of 1 ms: +{} GB-s",
            count(pings),
            pings * 0.001 * gb
        ));
        scenarios.push(Scenario {
            name: "keep_warm",
            usage_formulas: f,
            usage: u,
            bill: Bill::price(&u, p, free),
        });
    }
    if input.stages > 1 {
        let k = f64::from(input.stages);
        let u = Usage {
            requests: base.requests * k,
            gb_seconds: base.gb_seconds * k,
            provisioned_duration_gb_seconds: 0.0,
            provisioned_gb_seconds: 0.0,
            http_requests: base.http_requests * k,
        };
        let f = vec![format!(
            "{} stages × the on-demand usage (free tier counted once)",
            input.stages
        )];
        scenarios.push(Scenario {
            name: "stages",
            usage_formulas: f,
            usage: u,
            bill: Bill::price(&u, p, free),
        });
    }
    let (ondol_warm_mb, ondol_formula) = warm_pool(&input, billed_s);
    Ok(Estimate {
        prices: prices.version.clone(),
        region_name: p.name.clone(),
        input,
        scenarios,
        ondol_warm_mb,
        ondol_formula,
    })
}

/// N instances kept ready all month; requests they serve are billed at the lower
/// provisioned duration price, and no free tier applies.
fn provisioned(p: &RegionPrices, base: &Usage, base_f: &[String], n: u32, gb: f64) -> Scenario {
    let seconds = DAYS * 86_400.0;
    let u = Usage {
        gb_seconds: 0.0,
        provisioned_duration_gb_seconds: base.gb_seconds,
        provisioned_gb_seconds: f64::from(n) * gb * seconds,
        ..*base
    };
    let mut f = base_f.to_vec();
    f.push(format!(
        "{n} × {gb} GB × {} s = {} GB-s provisioned",
        count(seconds),
        u.provisioned_gb_seconds
    ));
    Scenario {
        name: "provisioned",
        usage_formulas: f,
        usage: u,
        bill: Bill::price(&u, p, None),
    }
}

/// Instances ondol keeps: the average concurrency (Little's law) rounded up, or
/// the provisioned count, or one kept warm; per stage.
fn warm_pool(input: &EstimateInput, billed_s: f64) -> (u64, String) {
    let avg = input.requests_per_day / 86_400.0 * billed_s;
    let mut n = avg.ceil().max(1.0) as u64;
    if let Some(p) = input.provisioned {
        n = n.max(u64::from(p));
    }
    let total = n * u64::from(input.stages.max(1)) * u64::from(input.memory_mb);
    let formula = format!(
        "average concurrency {} req/day ÷ 86,400 s × {billed_s} s = {avg:.3} → {n} instance(s) × {} stage(s) × {} MB = {} MB of this node's memory (at no charge: {})",
        count(input.requests_per_day),
        input.stages.max(1),
        input.memory_mb,
        total,
        usd(0.0)
    );
    (total, formula)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_demand_matches_the_formula() {
        let e = estimate(
            &Prices::builtin(),
            EstimateInput {
                requests_per_day: 86_400.0,
                duration_ms: 120.0,
                memory_mb: 512,
                keep_warm_minutes: Some(2.0),
                provisioned: Some(2),
                stages: 3,
                region: "us-east-1".into(),
                free_tier: false,
            },
        )
        .unwrap();
        let od = &e.scenarios[0].bill;
        assert_eq!(od.lines[0].formula, "2,592,000 req × $0.20/1M = $0.52");
        // 2,592,000 × 0.12 s × 0.5 GB = 155,520 GB-s
        assert!((od.lines[1].usd - 155_520.0 * 0.0000166667).abs() < 1e-9);
        assert_eq!(e.scenarios.len(), 4);
        // With 2 provisioned, every request is served at the provisioned rate.
        let pc = &e.scenarios[1].bill;
        assert_eq!(
            (pc.lines[1].usd, pc.lines[2].item),
            (0.0, "provisioned_duration")
        );
        assert!((pc.lines[2].usd - 155_520.0 * 0.0000097222).abs() < 1e-9);
        assert_eq!(e.ondol_warm_mb, 2 * 3 * 512);
    }
}
