//! Judging a version while traffic shifts to it: its error rate and p99 duration
//! since the shift began, against the function's rollback thresholds.

use std::collections::BTreeMap;

use ondol_core::manifest::Rollback;

use crate::api::types::Metrics;

/// A version's invocation and error counts and its duration histogram (bucket
/// upper bound in ms → count).
pub struct Counts {
    invocations: u64,
    errors: u64,
    durations: BTreeMap<String, (f64, u64)>,
}

/// A version's counts in a metrics snapshot (zero if it has no pool yet).
pub fn version_counts(metrics: &Metrics, name: &str, version: &str) -> Counts {
    let p = metrics.pool(name, version).cloned().unwrap_or_default();
    Counts {
        invocations: p.invocations,
        errors: p.errors,
        durations: p
            .durations
            .iter()
            .map(|(upper, n)| (upper.to_string(), (*upper, *n)))
            .collect(),
    }
}

impl Counts {
    /// What happened between `base` and now.
    pub fn since(&self, base: &Counts) -> Counts {
        let durations = self
            .durations
            .iter()
            .map(|(k, (upper, n))| {
                let before = base.durations.get(k).map_or(0, |b| b.1);
                (k.clone(), (*upper, n.saturating_sub(before)))
            })
            .collect();
        Counts {
            invocations: self.invocations.saturating_sub(base.invocations),
            errors: self.errors.saturating_sub(base.errors),
            durations,
        }
    }

    /// The p99 duration's bucket as (lower, upper) bounds in ms.
    fn p99(&self) -> Option<(f64, f64)> {
        let mut buckets: Vec<(f64, u64)> = self.durations.values().copied().collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: u64 = buckets.iter().map(|b| b.1).sum();
        let rank = (total as f64 * 0.99).ceil() as u64;
        let mut seen = 0;
        for (upper, n) in buckets {
            seen += n;
            if seen >= rank.max(1) {
                return Some((upper / 1.1, upper));
            }
        }
        None
    }

    /// How the new version is doing against the thresholds, for the progress
    /// shown while a step holds.
    pub fn summary(&self, r: &Rollback) -> String {
        let rate = match self.invocations {
            0 => "no invocations yet".to_string(),
            n => format!(
                "{} of {n} failed ({:.1}%)",
                self.errors,
                self.errors as f64 * 100.0 / n as f64
            ),
        };
        let p99 = match self.p99() {
            Some((lower, upper)) => format!("p99 {lower:.0}–{upper:.0} ms"),
            None => "p99 -".to_string(),
        };
        let limit = r
            .p99_ms
            .map(|ms| format!("{ms} ms"))
            .unwrap_or_else(|| "none".into());
        format!(
            "{rate}, threshold {:.0}% (from {} invocations); {p99}, threshold {limit}",
            r.error_rate * 100.0,
            r.min_invocations
        )
    }

    /// Why this window of the new version crosses the thresholds, if it does.
    pub fn breach(&self, r: &Rollback) -> Option<String> {
        if self.invocations < r.min_invocations {
            return None;
        }
        let rate = self.errors as f64 / self.invocations as f64;
        if rate >= r.error_rate {
            return Some(format!(
                "failed {} of {} invocations ({:.0}%, threshold {:.0}% over at least {})",
                self.errors,
                self.invocations,
                rate * 100.0,
                r.error_rate * 100.0,
                r.min_invocations
            ));
        }
        let (limit, (lower, upper)) = (r.p99_ms?, self.p99()?);
        // Only a p99 surely above the limit counts (its bucket starts above it).
        (lower > limit as f64).then(|| {
            format!(
                "p99 duration {lower:.0}–{upper:.0} ms over {} invocations is above the {limit} ms threshold",
                self.invocations
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(inv: u64, err: u64, buckets: &[(f64, u64)]) -> Counts {
        Counts {
            invocations: inv,
            errors: err,
            durations: buckets
                .iter()
                .map(|(u, n)| (u.to_string(), (*u, *n)))
                .collect(),
        }
    }

    #[test]
    fn thresholds() {
        let r = Rollback {
            p99_ms: Some(100),
            ..Rollback::default()
        };
        assert!(
            counts(19, 19, &[(1.0, 19)]).breach(&r).is_none(),
            "too few to judge"
        );
        assert!(counts(20, 1, &[(1.0, 20)])
            .breach(&r)
            .unwrap()
            .contains("failed 1 of 20"));
        assert!(counts(100, 0, &[(1.0, 98), (500.0, 2)])
            .breach(&r)
            .unwrap()
            .contains("p99"));
        assert!(
            counts(200, 0, &[(1.0, 199), (500.0, 1)])
                .breach(&r)
                .is_none(),
            "1 in 200 is past p99"
        );
        assert!(
            counts(100, 0, &[(105.0, 100)]).breach(&r).is_none(),
            "a bucket straddling the limit is not sure"
        );
        assert_eq!(
            counts(40, 2, &[(1.0, 40)]).summary(&r),
            "2 of 40 failed (5.0%), threshold 5% (from 20 invocations); p99 1–1 ms, threshold 100 ms"
        );
        let base = counts(10, 5, &[(1.0, 10)]);
        let w = counts(40, 5, &[(1.0, 40)]).since(&base);
        assert_eq!((w.invocations, w.errors, w.durations["1"].1), (30, 0, 30));
    }
}
