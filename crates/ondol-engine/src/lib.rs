//! The execution core: function instances as OS processes, each with its own Runtime
//! API listener, grouped in warm pools (one per function version) with concurrency,
//! memory, timeout and payload limits, and log capture with START/END/REPORT lines.

mod budget;
mod capture;
mod engine;
mod instance;
mod memwatch;
mod metrics;
mod pool;
mod report;
mod runtime_api;
mod runtimes;
mod sandbox;

pub use engine::{Engine, EngineConfig, FunctionSpec, PoolStats};
pub use metrics::Metrics;
