//! A function's resolved configuration, as the engine receives it. Every limit has a
//! documented default; the engine never sees a manifest or an API request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Memory bounds accepted for `memory_mb` (Lambda's range).
pub const MEMORY_MB_RANGE: (u32, u32) = (128, 10_240);
/// Timeout bounds accepted, in seconds. ondol has no 15-minute cap of its own: one day.
pub const TIMEOUT_S_RANGE: (u64, u64) = (1, 86_400);
/// Lambda's synchronous payload limit, 6 MB.
pub const DEFAULT_PAYLOAD_BYTES: u64 = 6 * 1024 * 1024;

/// How an instance is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuntimeKind {
    /// `provided*`: `bootstrap` from the code root.
    Provided,
    /// `python3.*`: ondol's built-in Python bootstrap.
    Python,
    /// `nodejs*`: ondol's built-in Node bootstrap.
    Node,
    /// `web`: any HTTP server, started by `command` with its port in `$PORT`.
    Web,
}

impl RuntimeKind {
    /// Classifies a Lambda runtime identifier, or `None` when ondol can't run it.
    pub fn of(runtime: &str) -> Option<Self> {
        if runtime == "provided" || runtime.starts_with("provided.") {
            Some(Self::Provided)
        } else if runtime == "python3" || runtime.starts_with("python3.") {
            Some(Self::Python)
        } else if runtime.starts_with("nodejs") {
            Some(Self::Node)
        } else if runtime == "web" {
            Some(Self::Web)
        } else {
            None
        }
    }
}

/// Limits of one function. Defaults are in [`Limits::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most instances running at once (default 100).
    pub max_concurrency: u32,
    /// Instances started ahead and kept warm (default 0).
    pub min_warm: u32,
    /// Idle instances beyond `min_warm` stop after this many ms (default 10 min).
    pub idle_timeout_ms: u64,
    /// Bound on the wait for a new instance's first `/next` (default 10 s).
    pub init_timeout_ms: u64,
    /// Largest request payload accepted (default 6 MB).
    pub max_request_bytes: u64,
    /// Largest response payload accepted (default 6 MB).
    pub max_response_bytes: u64,
    /// Requests that may wait for capacity at a limit (default 100).
    pub queue_depth: u32,
    /// How long a request waits for capacity before it is throttled (default 1 s).
    pub queue_wait_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrency: 100,
            min_warm: 0,
            idle_timeout_ms: 10 * 60 * 1000,
            init_timeout_ms: 10_000,
            max_request_bytes: DEFAULT_PAYLOAD_BYTES,
            max_response_bytes: DEFAULT_PAYLOAD_BYTES,
            queue_depth: 100,
            queue_wait_ms: 1000,
        }
    }
}

/// Everything needed to run one function version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionConfig {
    pub name: String,
    /// The Lambda runtime identifier as given (`python3.11`, `provided.al2023`, ...).
    pub runtime: String,
    /// `module.func` for python/node; informative for `provided`.
    pub handler: String,
    /// Memory limit of one instance in MB (default 128).
    pub memory_mb: u32,
    /// Invocation timeout in ms (default 3 s).
    pub timeout_ms: u64,
    pub environment: BTreeMap<String, String>,
    /// Overrides how an instance starts (argv), e.g. `python3 -m awslambdaric app.handler`.
    pub command: Option<Vec<String>>,
    pub description: String,
    pub limits: Limits,
    /// Set for `web` functions.
    #[serde(default)]
    pub web: Option<WebOptions>,
}

/// How a web-mode function is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebOptions {
    /// Polled until it answers before the first request (default `/`).
    pub readiness_path: String,
    /// Requests one instance serves at once (default 8).
    pub instance_concurrency: u32,
}

impl FunctionConfig {
    /// A configuration with every default, for `name` on `runtime`.
    pub fn new(name: impl Into<String>, runtime: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            runtime: runtime.into(),
            handler: String::new(),
            memory_mb: 128,
            timeout_ms: 3000,
            environment: BTreeMap::new(),
            command: None,
            description: String::new(),
            limits: Limits::default(),
            web: None,
        }
    }

    pub fn runtime_kind(&self) -> Option<RuntimeKind> {
        RuntimeKind::of(&self.runtime)
    }

    /// Checks ranges; the error names the field and the rule.
    pub fn validate(&self) -> Result<(), String> {
        let (lo, hi) = MEMORY_MB_RANGE;
        if !(lo..=hi).contains(&self.memory_mb) {
            return Err(format!(
                "MemorySize {} is out of range: it must be between {lo} and {hi} MB",
                self.memory_mb
            ));
        }
        let (lo, hi) = TIMEOUT_S_RANGE;
        if !(lo * 1000..=hi * 1000).contains(&self.timeout_ms) {
            return Err(format!(
                "Timeout {} s is out of range: it must be between {lo} and {hi} seconds",
                self.timeout_ms as f64 / 1000.0
            ));
        }
        if self.runtime_kind().is_none() && self.command.is_none() {
            return Err(format!(
                "Runtime '{}' is not supported: use python3.*, nodejs*, provided, provided.al2 or provided.al2023, or set a command",
                self.runtime
            ));
        }
        if matches!(
            self.runtime_kind(),
            Some(RuntimeKind::Python | RuntimeKind::Node)
        ) && self.command.is_none()
            && !self.handler.contains('.')
        {
            return Err(format!(
                "Handler '{}' is not valid: it must be 'module.function'",
                self.handler
            ));
        }
        if self.runtime_kind() == Some(RuntimeKind::Web) {
            if self.command.as_ref().is_none_or(Vec::is_empty) {
                return Err("Runtime 'web' needs a command that starts the server on $PORT".into());
            }
            if self.web.is_none() {
                return Err(
                    "Runtime 'web' needs web options (readiness path, instance concurrency)".into(),
                );
            }
        }
        if self.limits.max_concurrency == 0 && self.limits.min_warm > 0 {
            return Err("min_warm must be 0 when max_concurrency is 0".into());
        }
        if self.limits.min_warm > self.limits.max_concurrency {
            return Err(format!(
                "min_warm {} exceeds max_concurrency {}",
                self.limits.min_warm, self.limits.max_concurrency
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_runtimes() {
        assert_eq!(RuntimeKind::of("python3.13"), Some(RuntimeKind::Python));
        assert_eq!(RuntimeKind::of("nodejs22.x"), Some(RuntimeKind::Node));
        assert_eq!(
            RuntimeKind::of("provided.al2023"),
            Some(RuntimeKind::Provided)
        );
        assert_eq!(RuntimeKind::of("java21"), None);
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = FunctionConfig::new("f", "python3.11");
        c.handler = "app.handler".into();
        assert!(c.validate().is_ok());
        c.memory_mb = 64;
        assert!(c.validate().unwrap_err().contains("MemorySize"));
        c.memory_mb = 128;
        c.handler = "nodot".into();
        assert!(c.validate().unwrap_err().contains("Handler"));
    }
}
