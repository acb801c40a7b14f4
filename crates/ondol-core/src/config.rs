//! A function's resolved configuration, as the engine receives it. Every limit has a
//! documented default; the engine never sees a manifest or an API request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod environment;

/// Memory bounds accepted for `memory_mb` (Lambda's range).
pub const MEMORY_MB_RANGE: (u32, u32) = (128, 10_240);
/// Timeout bounds accepted, in seconds. ondol has no 15-minute cap of its own: one day.
pub const TIMEOUT_S_RANGE: (u64, u64) = (1, 86_400);
/// Lambda's synchronous payload limit, 6 MB.
pub const DEFAULT_PAYLOAD_BYTES: u64 = 6 * 1024 * 1024;

/// The most a function's `max_request_bytes` / `max_response_bytes` may be: payloads
/// are held in memory, and the API refuses larger bodies before reading them.
pub const MAX_PAYLOAD_BYTES: u64 = 256 * 1024 * 1024;

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
    /// An init running longer is reported in the function's log, with where it
    /// is (default 2 s).
    pub slow_init_ms: u64,
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
            slow_init_ms: 2_000,
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
    /// Size of an instance's private `/tmp` in MB (Lambda's `EphemeralStorage`).
    #[serde(default = "default_ephemeral_mb")]
    pub ephemeral_mb: u32,
    /// What network an instance has.
    #[serde(default)]
    pub network: Network,
    /// Layer versions merged in order into `/opt` (Lambda's `Layers`, at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerRef>,
    /// The execution role as the client sent it (ondol doesn't assume it; it is echoed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// One layer version a function uses: its ARN and zipped size (a version never
/// changes, so the size is kept with the reference, as GetFunction shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    pub arn: String,
    pub code_size: u64,
}

/// What network a function's instances have (`Ondol.Network`, `network` in ondol.toml).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The host's network: outbound connections work (databases, APIs).
    #[default]
    Default,
    /// None at all: its own empty network namespace, holding only its Runtime API.
    None,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::None => "none",
        }
    }
}

/// Lambda's default ephemeral storage, and its range.
pub const EPHEMERAL_MB_DEFAULT: u32 = 512;
pub const EPHEMERAL_MB_RANGE: (u32, u32) = (512, 10_240);

fn default_ephemeral_mb() -> u32 {
    EPHEMERAL_MB_DEFAULT
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
            role: None,
            memory_mb: 128,
            timeout_ms: 3000,
            environment: BTreeMap::new(),
            command: None,
            description: String::new(),
            limits: Limits::default(),
            web: None,
            ephemeral_mb: EPHEMERAL_MB_DEFAULT,
            network: Network::Default,
            layers: Vec::new(),
        }
    }

    pub fn runtime_kind(&self) -> Option<RuntimeKind> {
        RuntimeKind::of(&self.runtime)
    }

    /// Checks ranges, strings and limits; the error names the field and the rule.
    pub fn validate(&self) -> Result<(), String> {
        self.check_sizes()?;
        self.check_runtime()?;
        self.check_strings()?;
        environment::check(&self.environment)?;
        self.check_limits()
    }

    fn check_sizes(&self) -> Result<(), String> {
        let (lo, hi) = MEMORY_MB_RANGE;
        if !(lo..=hi).contains(&self.memory_mb) {
            return Err(format!(
                "MemorySize {} is out of range: it must be between {lo} and {hi} MB",
                self.memory_mb
            ));
        }
        let (lo, hi) = EPHEMERAL_MB_RANGE;
        if !(lo..=hi).contains(&self.ephemeral_mb) {
            return Err(format!(
                "EphemeralStorage.Size {} is out of range: it must be between {lo} and {hi} MB",
                self.ephemeral_mb
            ));
        }
        let (lo, hi) = TIMEOUT_S_RANGE;
        if !(lo * 1000..=hi * 1000).contains(&self.timeout_ms) {
            return Err(format!(
                "Timeout {} s is out of range: it must be between {lo} and {hi} seconds",
                self.timeout_ms as f64 / 1000.0
            ));
        }
        Ok(())
    }

    fn check_runtime(&self) -> Result<(), String> {
        if self.network == Network::None && self.runtime_kind() == Some(RuntimeKind::Web) {
            return Err("Ondol.Network \"none\" is not available to web-mode functions: the front door reaches a web app over the network (use a Lambda runtime, or the default network)".into());
        }
        if self.runtime_kind().is_none() && self.command.is_none() {
            // AWS's wording (scripts match on it), then what ondol adds.
            return Err(format!(
                "Value {} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] (ondol also runs \"web\", or any runtime with a command)",
                self.runtime,
                crate::runtimes::LAMBDA_RUNTIMES.join(", ")
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
        Ok(())
    }

    /// Strings that reach an argv, an environment or an HTTP request line.
    fn check_strings(&self) -> Result<(), String> {
        let token = |field: &str, v: &str, max: usize| {
            if v.len() > max || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "{field} '{}' is not valid: it must be at most {max} characters without spaces or control characters",
                    v.escape_debug()
                ));
            }
            Ok(())
        };
        token("Runtime", &self.runtime, 64)?;
        token("Handler", &self.handler, 128)?;
        if self.description.chars().count() > 256 {
            return Err("Description is too long: it must be at most 256 characters".into());
        }
        if let Some(cmd) = &self.command {
            if cmd.first().is_some_and(String::is_empty) {
                return Err("ImageConfig.EntryPoint: the program (first word) is empty".into());
            }
            if cmd.iter().any(|a| a.contains('\0')) {
                return Err("ImageConfig.EntryPoint: an argument contains a NUL character, which no argv can hold".into());
            }
        }
        if let Some(w) = &self.web {
            let p = &w.readiness_path;
            if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "Ondol.ReadinessPath '{}' is not valid: it must be a path starting with '/', without spaces or control characters",
                    p.escape_debug()
                ));
            }
        }
        Ok(())
    }

    /// Limits that would make every start or every request fail.
    fn check_limits(&self) -> Result<(), String> {
        let l = &self.limits;
        let max_ms = TIMEOUT_S_RANGE.1 * 1000;
        if !(1..=max_ms).contains(&l.init_timeout_ms) {
            return Err(format!(
                "Ondol.InitTimeoutMs {} is out of range: it must be between 1 and {max_ms} ms (no instance could start in 0 ms)",
                l.init_timeout_ms
            ));
        }
        if l.slow_init_ms == 0 {
            return Err(
                "Ondol.SlowInitMs 0 is out of range: it must be at least 1 ms (every init would be reported)".into(),
            );
        }
        for (field, v) in [
            ("Ondol.MaxRequestBytes", l.max_request_bytes),
            ("Ondol.MaxResponseBytes", l.max_response_bytes),
        ] {
            if v == 0 {
                return Err(format!(
                    "{field} 0 is out of range: it must be at least 1 byte (0 refuses every payload)"
                ));
            }
            if v > MAX_PAYLOAD_BYTES {
                return Err(format!(
                    "{field} {v} is out of range: it must be at most {MAX_PAYLOAD_BYTES} bytes (payloads are held in memory)"
                ));
            }
        }
        if l.max_concurrency == 0 && l.min_warm > 0 {
            return Err("min_warm must be 0 when max_concurrency is 0".into());
        }
        if l.min_warm > l.max_concurrency {
            return Err(format!(
                "min_warm {} exceeds max_concurrency {}",
                l.min_warm, l.max_concurrency
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

    #[test]
    fn refuses_what_can_never_run() {
        let ok = {
            let mut c = FunctionConfig::new("f", "python3.11");
            c.handler = "app.handler".into();
            c
        };
        let fails = |f: &dyn Fn(&mut FunctionConfig), field: &str| {
            let mut c = ok.clone();
            f(&mut c);
            let e = c.validate().unwrap_err();
            assert!(e.contains(field), "{field}: {e}");
        };
        fails(&|c| c.limits.init_timeout_ms = 0, "Ondol.InitTimeoutMs");
        fails(&|c| c.limits.slow_init_ms = 0, "Ondol.SlowInitMs");
        fails(
            &|c| c.limits.init_timeout_ms = u64::MAX,
            "Ondol.InitTimeoutMs",
        );
        fails(&|c| c.limits.max_request_bytes = 0, "Ondol.MaxRequestBytes");
        fails(
            &|c| c.limits.max_request_bytes = MAX_PAYLOAD_BYTES + 1,
            "Ondol.MaxRequestBytes",
        );
        fails(
            &|c| c.limits.max_response_bytes = 0,
            "Ondol.MaxResponseBytes",
        );
        fails(&|c| c.handler = "app.handler\n".into(), "Handler");
        fails(&|c| c.handler = "a.b c".into(), "Handler");
        fails(&|c| c.runtime = "python3.11\0".into(), "Runtime");
        fails(&|c| c.description = "d".repeat(257), "Description");
        fails(&|c| c.command = Some(vec!["".into()]), "EntryPoint");
        fails(
            &|c| c.command = Some(vec!["py".into(), "a\0b".into()]),
            "EntryPoint",
        );
        fails(
            &|c| {
                c.environment
                    .insert("AWS_LAMBDA_RUNTIME_API".into(), "x".into());
            },
            "AWS_LAMBDA_RUNTIME_API",
        );
        fails(
            &|c| {
                c.runtime = "web".into();
                c.command = Some(vec!["srv".into()]);
                c.web = Some(WebOptions {
                    readiness_path: "health".into(),
                    instance_concurrency: 1,
                });
            },
            "Ondol.ReadinessPath",
        );
    }
}
