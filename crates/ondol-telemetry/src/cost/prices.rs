//! The price table: AWS Lambda and API Gateway HTTP API prices per region, read
//! from a versioned file in the repository (`prices/aws-YYYY-MM.toml`) and built in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CostError;

/// The table built into this binary.
const BUILTIN: &str = include_str!("../../../../prices/aws-2026-11.toml");

/// One price step: up to `up_to` units in the month (the last step has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub up_to: Option<f64>,
    pub usd: f64,
}

/// The monthly free tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeTier {
    pub lambda_requests: f64,
    pub lambda_gb_seconds: f64,
    pub http_api_requests: f64,
}

/// One region's prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    pub name: String,
    pub lambda_request_per_million: f64,
    pub lambda_gb_second: Vec<Tier>,
    pub provisioned_gb_second: f64,
    pub provisioned_duration_gb_second: f64,
    pub http_api_per_million: Vec<Tier>,
}

/// A whole table, as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub version: String,
    pub read_on: String,
    pub sources: Vec<String>,
    pub free_tier: FreeTier,
    pub regions: BTreeMap<String, RegionPrices>,
}

impl Prices {
    /// The table built into this binary.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN).expect("the built-in price table parses")
    }

    pub fn parse(text: &str) -> Result<Self, CostError> {
        toml::from_str(text).map_err(|e| CostError::Prices(e.to_string()))
    }

    /// A region's prices, or an error naming the ones there are.
    pub fn region(&self, region: &str) -> Result<&RegionPrices, CostError> {
        self.regions.get(region).ok_or_else(|| CostError::Region {
            region: region.to_string(),
            known: self.regions.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_two_regions() {
        let p = Prices::builtin();
        assert_eq!(
            p.region("us-east-1").unwrap().lambda_request_per_million,
            0.20
        );
        assert!(p.region("eu-west-1").is_ok());
        assert!(p
            .region("mars-1")
            .unwrap_err()
            .to_string()
            .contains("us-east-1"));
    }
}
