//! What the same traffic would cost on AWS: the price table, a bill priced from
//! usage with each figure's formula, and the what-if estimator.

mod bill;
mod estimate;
mod fmt;
mod prices;

pub use bill::{Bill, Line, Usage};
pub use estimate::{estimate, Estimate, EstimateInput};
pub use fmt::{count, usd};
pub use prices::{FreeTier, Prices, RegionPrices, Tier};

/// Why a price or a bill could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// The price table does not parse.
    #[error("price table: {0}")]
    Prices(String),
    /// No prices for the region.
    #[error("no prices for region {region} (known: {known})")]
    Region { region: String, known: String },
}
