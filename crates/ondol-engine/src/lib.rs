//! The execution core: function instances as OS processes, each with its own Runtime
//! API listener, grouped in warm pools (one per function version) with concurrency,
//! memory, timeout and payload limits, and log capture with START/END/REPORT lines.
//! No instance outlives the server: see `launcher` and `reaper`.

mod budget;
mod capture;
mod checkout;
mod diagnose;
mod engine;
mod enter;
mod front;
mod inspect;
mod instance;
mod interpreters;
mod invoke;
mod jail;
mod lambda;
mod launcher;
mod layers;
mod memwatch;
mod metrics;
mod netns;
mod node;
mod peer;
mod phases;
mod pool;
mod pools;
mod process;
mod proxy;
mod reaper;
mod recent;
mod report;
mod routing;
mod runtime_api;
mod runtimes;
mod sandbox;
mod spawn;
mod spec;
mod stream;
mod target;
mod throttle;
mod usage;
mod web;
mod window;

pub use engine::{Engine, EngineConfig, FunctionSpec, PoolStats, RuntimeOffer};
pub use front::ProxyBody;
pub use invoke::Run;
pub use jail::SandboxMode;
pub use metrics::{Metrics, Outcome, ThrottleReason, VersionSnapshot};
pub use peer::peer_uid;
pub use phases::{ColdStart, ColdStartStats};
pub use proxy::{ProxyError, ProxyOutcome};
pub use reaper::{run as run_reaper, COMMAND as REAPER_COMMAND};
pub use routing::AliasRoute;
pub use stream::{StreamError, StreamingOutcome};
pub use target::Target;
pub use usage::UsageDelta;
