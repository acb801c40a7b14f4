//! What a pool needs to start instances of one function version, fixed at deploy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ondol_core::LogSink;

use crate::jail::Plan;
use crate::memwatch::MemWatch;
use crate::reaper::Reaper;
use crate::runtimes::Launch;
use crate::sandbox::CgroupRoot;

pub(crate) struct StartSpec {
    pub launch: Launch,
    pub code_dir: PathBuf,
    pub function: Arc<str>,
    pub version: Arc<str>,
    pub memory_mb: u32,
    pub timeout_ms: u64,
    pub init_timeout: Duration,
    /// An init running longer is reported in the function's log.
    pub slow_init: Duration,
    pub max_response: u64,
    pub sink: Arc<dyn LogSink>,
    pub memwatch: Arc<MemWatch>,
    pub cgroups: Option<CgroupRoot>,
    /// Told of every instance group, to kill them if the server dies.
    pub reaper: Option<Arc<Reaper>>,
    /// Web mode: the instance is an HTTP server on `$PORT`.
    pub web: Option<ondol_core::WebOptions>,
    /// The sandbox each instance enters before exec, when the node has one.
    pub jail: Option<Arc<Plan>>,
    /// No network: each instance in its own empty network namespace (sandbox only).
    pub isolated_network: bool,
}

impl StartSpec {
    /// Whether instances run under the sandbox's init (the process group's
    /// leader is that init, the runtime its child).
    pub fn under_init(&self) -> bool {
        self.jail.as_ref().is_some_and(|j| j.init.is_some())
    }
}
