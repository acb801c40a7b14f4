//! Percentiles of a sample.

use std::time::Duration;

pub struct Sample(Vec<f64>);

impl Sample {
    pub fn new(mut ms: Vec<f64>) -> Self {
        ms.sort_by(|a, b| a.total_cmp(b));
        Self(ms)
    }

    pub fn of(durations: &[Duration]) -> Self {
        Self::new(durations.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
    }

    pub fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let i = ((self.0.len() as f64 - 1.0) * p / 100.0).round() as usize;
        self.0[i]
    }

    pub fn p50(&self) -> f64 {
        self.pct(50.0)
    }
}
