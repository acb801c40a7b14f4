//! A month's usage priced as AWS would: Lambda requests and duration (tiered,
//! after the free tier), the duration provisioned concurrency served (at its
//! lower rate), provisioned concurrency itself, HTTP API requests. Every line
//! carries the formula that gives it.

use serde::Serialize;

use super::fmt::{amount, count, price, usd};
use super::prices::{FreeTier, RegionPrices, Tier};

/// What is billed, summed over a month (or projected to one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    pub requests: f64,
    /// Billed duration × configured memory, of invocations run on demand.
    pub gb_seconds: f64,
    /// Billed duration × memory of invocations that ran within `min_warm`
    /// (provisioned concurrency): the provisioned duration price, no free tier.
    pub provisioned_duration_gb_seconds: f64,
    /// Time instances were kept ready by `min_warm` × memory.
    pub provisioned_gb_seconds: f64,
    /// Requests through the HTTP front door.
    pub http_requests: f64,
}

/// One priced item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub item: &'static str,
    pub quantity: f64,
    pub usd: f64,
    pub formula: String,
}

/// A priced usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bill {
    pub lines: Vec<Line>,
    pub total_usd: f64,
}

impl Bill {
    /// Prices `u` in a region; `free` applies the monthly free tier.
    pub fn price(u: &Usage, p: &RegionPrices, free: Option<&FreeTier>) -> Self {
        let zero = FreeTier {
            lambda_requests: 0.0,
            lambda_gb_seconds: 0.0,
            http_api_requests: 0.0,
        };
        let f = free.unwrap_or(&zero);
        let requests = per_million(
            "lambda_requests",
            u.requests,
            f.lambda_requests,
            &[Tier {
                up_to: None,
                usd: p.lambda_request_per_million,
            }],
        );
        let duration = per_unit(
            "lambda_duration",
            u.gb_seconds,
            f.lambda_gb_seconds,
            &p.lambda_gb_second,
        );
        let provisioned_duration = per_unit(
            "provisioned_duration",
            u.provisioned_duration_gb_seconds,
            0.0,
            &[Tier {
                up_to: None,
                usd: p.provisioned_duration_gb_second,
            }],
        );
        let provisioned = per_unit(
            "provisioned_concurrency",
            u.provisioned_gb_seconds,
            0.0,
            &[Tier {
                up_to: None,
                usd: p.provisioned_gb_second,
            }],
        );
        let http = per_million(
            "http_api_requests",
            u.http_requests,
            f.http_api_requests,
            &p.http_api_per_million,
        );
        let lines = vec![requests, duration, provisioned_duration, provisioned, http];
        let total_usd = lines.iter().map(|l| l.usd).sum();
        Self { lines, total_usd }
    }

    /// `$a + $b + … = $total`.
    pub fn total_formula(&self) -> String {
        let parts: Vec<String> = self.lines.iter().map(|l| usd(l.usd)).collect();
        format!("{} = {}", parts.join(" + "), usd(self.total_usd))
    }
}

/// The quantity past the free tier, and how the formula says it.
fn billable(quantity: f64, free: f64, unit: &str, fmt: fn(f64) -> String) -> (f64, String) {
    if free > 0.0 {
        let left = (quantity - free).max(0.0);
        (
            left,
            format!("({} − {} free) {unit}", fmt(quantity), fmt(free)),
        )
    } else {
        (quantity, format!("{} {unit}", fmt(quantity)))
    }
}

/// Splits `q` over tiers: (units in the tier, its price) for each tier used.
fn split(q: f64, tiers: &[Tier]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut below = 0.0;
    for t in tiers {
        let cap = t.up_to.unwrap_or(f64::INFINITY);
        let here = (q.min(cap) - below).max(0.0);
        if here > 0.0 || out.is_empty() {
            out.push((here, t.usd));
        }
        below = cap;
        if q <= cap {
            break;
        }
    }
    out
}

/// How a quantity is priced: its unit, how it is written, and how many units a
/// price is for (requests per million, GB-seconds one by one).
struct Unit {
    name: &'static str,
    fmt: fn(f64) -> String,
    per: f64,
    per_label: &'static str,
}

const REQUESTS: Unit = Unit {
    name: "req",
    fmt: count,
    per: 1e6,
    per_label: "/1M",
};
const GB_SECONDS: Unit = Unit {
    name: "GB-s",
    fmt: amount,
    per: 1.0,
    per_label: "",
};

fn per_million(item: &'static str, q: f64, free: f64, tiers: &[Tier]) -> Line {
    tiered(item, q, free, tiers, &REQUESTS)
}

fn per_unit(item: &'static str, q: f64, free: f64, tiers: &[Tier]) -> Line {
    tiered(item, q, free, tiers, &GB_SECONDS)
}

/// `q` less `free`, priced tier by tier, with the formula that says how.
fn tiered(item: &'static str, q: f64, free: f64, tiers: &[Tier], u: &Unit) -> Line {
    let (left, lhs) = billable(q, free, u.name, u.fmt);
    let steps = split(left, tiers);
    let usd_total: f64 = steps.iter().map(|(n, p)| n * p / u.per).sum();
    let formula = if steps.len() == 1 {
        format!(
            "{lhs} × {}{} = {}",
            price(steps[0].1),
            u.per_label,
            usd(usd_total)
        )
    } else {
        let parts: Vec<String> = steps
            .iter()
            .map(|(n, p)| format!("{} {} × {}{}", (u.fmt)(*n), u.name, price(*p), u.per_label))
            .collect();
        format!("{lhs} = {} = {}", parts.join(" + "), usd(usd_total))
    };
    Line {
        item,
        quantity: q,
        usd: usd_total,
        formula,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::Prices;

    #[test]
    fn aws_example_one() {
        // AWS's own example: 512 MB, 3M requests of 1 s, free tier on.
        let p = Prices::builtin();
        let u = Usage {
            requests: 3e6,
            gb_seconds: 1.5e6,
            ..Default::default()
        };
        let b = Bill::price(&u, p.region("us-east-1").unwrap(), Some(&p.free_tier));
        assert!((b.lines[0].usd - 0.40).abs() < 1e-9);
        assert!(
            (b.lines[1].usd - 18.333_37).abs() < 1e-3,
            "{}",
            b.lines[1].usd
        );
        assert_eq!(
            b.lines[0].formula,
            "(3,000,000 − 1,000,000 free) req × $0.20/1M = $0.40"
        );
    }

    #[test]
    fn provisioned_duration_has_its_own_rate_and_no_free_tier() {
        let p = Prices::builtin();
        let u = Usage {
            gb_seconds: 100.0,
            provisioned_duration_gb_seconds: 1000.0,
            ..Default::default()
        };
        let b = Bill::price(&u, p.region("us-east-1").unwrap(), Some(&p.free_tier));
        assert_eq!(b.lines[1].usd, 0.0, "on demand: within the free tier");
        let l = &b.lines[2];
        assert_eq!(l.item, "provisioned_duration");
        assert!((l.usd - 1000.0 * 0.0000097222).abs() < 1e-12);
        assert!(
            l.formula.starts_with("1,000 GB-s × $0.0000097222"),
            "{}",
            l.formula
        );
    }

    #[test]
    fn tiers_split() {
        let t = [
            Tier {
                up_to: Some(300e6),
                usd: 1.0,
            },
            Tier {
                up_to: None,
                usd: 0.9,
            },
        ];
        let l = per_million("x", 400e6, 0.0, &t);
        assert!((l.usd - 390.0).abs() < 1e-6);
        assert!(
            l.formula.contains("100,000,000 req × $0.90/1M"),
            "{}",
            l.formula
        );
    }
}
