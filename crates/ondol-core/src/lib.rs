//! ondol's shared vocabulary: function identity and ARNs, resolved function
//! configuration, invocation types, log records. No I/O lives here, except runtime
//! discovery (`runtimes`), which looks for interpreters on this machine.

pub mod arn;
pub mod config;
pub mod conn;
pub mod front_stats;
pub mod invoke;
pub mod keys;
pub mod log;
pub mod manifest;
pub mod name;
pub mod runtimes;
pub mod stats;
pub mod status;

pub use arn::{Arn, LayerArn};
pub use config::{FunctionConfig, LayerRef, Limits, Network, RuntimeKind, WebOptions};
pub use invoke::{Cause, ColdStart, FunctionError, InvokeError, InvokeOutcome, InvokeRequest};
pub use log::{LogRecord, LogSink};
