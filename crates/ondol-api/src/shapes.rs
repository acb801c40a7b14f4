//! Lambda's JSON shapes: requests as boto3 sends them (unknown members are ignored,
//! known ones must have the right type) and `FunctionConfiguration` as it expects.

use std::collections::BTreeMap;

use ondol_core::{Arn, FunctionConfig, Limits};
use ondol_store::{AliasRecord, BlobInfo, FunctionRecord};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CodeIn {
    pub zip_file: Option<String>,
    pub s3_bucket: Option<String>,
    pub image_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentIn {
    pub variables: Option<BTreeMap<String, String>>,
}

/// `ImageConfig`: ondol runs `EntryPoint + Command` as the instance's argv, so AWS's
/// runtime clients (`python3 -m awslambdaric app.handler`) run unchanged.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfigIn {
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
}

/// ondol's own limits, accepted alongside Lambda's fields (`"Ondol": {...}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OndolIn {
    pub max_concurrency: Option<u32>,
    pub min_warm: Option<u32>,
    pub idle_timeout_ms: Option<u64>,
    pub init_timeout_ms: Option<u64>,
    /// An init running longer is reported in the log (default 2000).
    pub slow_init_ms: Option<u64>,
    pub max_request_bytes: Option<u64>,
    pub max_response_bytes: Option<u64>,
    pub queue_depth: Option<u32>,
    pub queue_wait_ms: Option<u64>,
    /// Overrides `Timeout` with millisecond precision.
    pub timeout_ms: Option<u64>,
    /// Web mode: polled before the first request (default `/`).
    pub readiness_path: Option<String>,
    /// Web mode: requests one instance serves at once (default 8).
    pub instance_concurrency: Option<u32>,
    /// `"default"` or `"none"`.
    pub network: Option<ondol_core::Network>,
}

/// The configuration members shared by CreateFunction and UpdateFunctionConfiguration
/// (read from the same body as the operation's own members).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigIn {
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<u64>,
    pub memory_size: Option<u32>,
    pub ephemeral_storage: Option<EphemeralStorageIn>,
    pub environment: Option<EnvironmentIn>,
    pub image_config: Option<ImageConfigIn>,
    pub ondol: Option<OndolIn>,
    /// Layer version ARNs; checked against the store before `apply`.
    pub layers: Option<Vec<String>>,
    pub role: Option<String>,
    pub architectures: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorageIn {
    pub size: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionIn {
    pub function_name: String,
    pub code: CodeIn,
    pub tags: Option<BTreeMap<String, String>>,
    #[allow(dead_code)] // versions arrive with PublishVersion
    pub publish: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateConfigurationIn {
    pub revision_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateCodeIn {
    pub zip_file: Option<String>,
    #[allow(dead_code)] // versions arrive with PublishVersion
    pub publish: Option<bool>,
    pub dry_run: Option<bool>,
    pub revision_id: Option<String>,
    pub s3_bucket: Option<String>,
    pub image_uri: Option<String>,
}

impl ConfigIn {
    /// Applies the members present onto `cfg`.
    pub fn apply(self, cfg: &mut FunctionConfig) {
        if let Some(r) = self.role {
            cfg.role = Some(r);
        }
        if let Some(r) = self.runtime {
            cfg.runtime = r;
        }
        if let Some(h) = self.handler {
            cfg.handler = h;
        }
        if let Some(d) = self.description {
            cfg.description = d;
        }
        if let Some(t) = self.timeout {
            cfg.timeout_ms = t.saturating_mul(1000);
        }
        if let Some(m) = self.memory_size {
            cfg.memory_mb = m;
        }
        if let Some(e) = self.ephemeral_storage {
            cfg.ephemeral_mb = e.size;
        }
        if let Some(e) = self.environment {
            cfg.environment = e.variables.unwrap_or_default();
        }
        if let Some(i) = self.image_config {
            let mut argv = i.entry_point.unwrap_or_default();
            argv.extend(i.command.unwrap_or_default());
            cfg.command = (!argv.is_empty()).then_some(argv);
        }
        if cfg.runtime_kind() == Some(ondol_core::RuntimeKind::Web) && cfg.web.is_none() {
            cfg.web = Some(ondol_core::WebOptions {
                readiness_path: "/".into(),
                instance_concurrency: 8,
            });
        }
        if let Some(o) = self.ondol {
            if let Some(ms) = o.timeout_ms {
                cfg.timeout_ms = ms;
            }
            if let Some(n) = o.network {
                cfg.network = n;
            }
            if let Some(w) = cfg.web.as_mut() {
                if let Some(p) = &o.readiness_path {
                    w.readiness_path.clone_from(p);
                }
                if let Some(n) = o.instance_concurrency {
                    w.instance_concurrency = n.max(1);
                }
            }
            o.apply(&mut cfg.limits);
        }
    }
}

impl OndolIn {
    fn apply(self, l: &mut Limits) {
        let set = |dst: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        if let Some(v) = self.max_concurrency {
            l.max_concurrency = v;
        }
        if let Some(v) = self.min_warm {
            l.min_warm = v;
        }
        if let Some(v) = self.queue_depth {
            l.queue_depth = v;
        }
        set(&mut l.idle_timeout_ms, self.idle_timeout_ms);
        set(&mut l.init_timeout_ms, self.init_timeout_ms);
        set(&mut l.slow_init_ms, self.slow_init_ms);
        set(&mut l.max_request_bytes, self.max_request_bytes);
        set(&mut l.max_response_bytes, self.max_response_bytes);
        set(&mut l.queue_wait_ms, self.queue_wait_ms);
    }
}

/// One version's configuration and code, as the shapes below render it.
pub struct View<'a> {
    pub config: &'a FunctionConfig,
    pub code_sha256: &'a str,
    pub code_size: u64,
    pub revision_id: &'a str,
    pub last_modified: &'a str,
    pub version: String,
}

impl<'a> View<'a> {
    pub fn latest(rec: &'a FunctionRecord) -> Self {
        Self {
            config: &rec.config,
            code_sha256: &rec.code_sha256,
            code_size: rec.code_size,
            revision_id: &rec.revision_id,
            last_modified: &rec.last_modified,
            version: "$LATEST".into(),
        }
    }

    /// `$LATEST` or a published version by number.
    pub fn of(rec: &'a FunctionRecord, version: &str) -> Option<Self> {
        if version == "$LATEST" {
            return Some(Self::latest(rec));
        }
        let v = rec.version(version)?;
        Some(Self {
            config: &v.config,
            code_sha256: &v.code_sha256,
            code_size: v.code_size,
            revision_id: &v.revision_id,
            last_modified: &v.last_modified,
            version: v.version.to_string(),
        })
    }
}

/// `FunctionConfiguration` as Lambda returns it; `State` and `LastUpdateStatus`
/// are always present so `aws lambda wait function-active-v2` works. The ARN is
/// qualified by `qualifier` when given.
pub fn configuration(arn: &Arn, view: &View<'_>, qualifier: Option<&str>) -> Value {
    let c = view.config;
    let mut v = json!({
        "FunctionName": c.name,
        "FunctionArn": arn.qualified(&c.name, qualifier),
        "Runtime": c.runtime,
        "Role": c.role.clone().unwrap_or_else(|| format!("arn:aws:iam::{}:role/ondol", arn.account)),
        "Handler": c.handler,
        "CodeSize": view.code_size,
        "Description": c.description,
        "Timeout": c.timeout_ms.div_ceil(1000),
        "MemorySize": c.memory_mb,
        "LastModified": view.last_modified,
        "CodeSha256": BlobInfo::b64_of_hex(view.code_sha256),
        "Version": view.version,
        "Environment": { "Variables": c.environment },
        "TracingConfig": { "Mode": "PassThrough" },
        "RevisionId": view.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": [std::env::consts::ARCH.replace("aarch64", "arm64")],
        "EphemeralStorage": { "Size": c.ephemeral_mb },
        "LoggingConfig": { "LogFormat": "Text", "LogGroup": format!("/aws/lambda/{}", c.name) },
        "SnapStart": { "ApplyOn": "None", "OptimizationStatus": "Off" },
        "RuntimeVersionConfig": {
            "RuntimeVersionArn": format!("arn:aws:lambda:{}::runtime:{}", arn.region, runtime_id(&c.runtime)),
        },
        "Ondol": {
            "MaxConcurrency": c.limits.max_concurrency,
            "MinWarm": c.limits.min_warm,
            "IdleTimeoutMs": c.limits.idle_timeout_ms,
            "InitTimeoutMs": c.limits.init_timeout_ms,
            "SlowInitMs": c.limits.slow_init_ms,
            "MaxRequestBytes": c.limits.max_request_bytes,
            "MaxResponseBytes": c.limits.max_response_bytes,
            "QueueDepth": c.limits.queue_depth,
            "QueueWaitMs": c.limits.queue_wait_ms,
            "TimeoutMs": c.timeout_ms,
            "Network": c.network.as_str(),
        },
    });
    if let Some(w) = &c.web {
        v["Ondol"]["ReadinessPath"] = w.readiness_path.clone().into();
        v["Ondol"]["InstanceConcurrency"] = w.instance_concurrency.into();
    }
    if !c.layers.is_empty() {
        let layers: Vec<Value> = c
            .layers
            .iter()
            .map(|l| json!({ "Arn": l.arn, "CodeSize": l.code_size }))
            .collect();
        v["Layers"] = layers.into();
    }
    if let Some(cmd) = &c.command {
        v["ImageConfigResponse"] = json!({ "ImageConfig": { "EntryPoint": cmd } });
    }
    v
}

/// A stable id standing in for the runtime version Lambda would name.
fn runtime_id(runtime: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(runtime.as_bytes()))
}

/// `AliasConfiguration`.
pub fn alias(arn: &Arn, function: &str, a: &AliasRecord) -> Value {
    let mut v = json!({
        "AliasArn": arn.qualified(function, Some(&a.name)),
        "Name": a.name,
        "FunctionVersion": a.function_version,
        "Description": a.description,
        "RevisionId": a.revision_id,
    });
    if !a.weights.is_empty() {
        v["RoutingConfig"] = json!({ "AdditionalVersionWeights": a.weights });
    }
    v
}
