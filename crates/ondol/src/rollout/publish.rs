//! Making `$LATEST` a function's new code and configuration, and publishing it as
//! a version: only code whose hash changed is uploaded, and every change follows
//! the revision it read, so a concurrent deploy of another stage cannot slip in.

use anyhow::{anyhow, bail, Result};
use base64::Engine as _;
use http::StatusCode;
use ondol_core::manifest::DeployedFunction;

use super::latest::Saved;
use crate::api::types::{
    CreateFunction, Environment, FunctionSettings, ImageConfig, OndolSettings, Size, UpdateCode,
    UpdateConfiguration, Zip,
};
use crate::api::{refused_with, Client};
use crate::package::Package;
use crate::progress::Progress;

/// The CreateFunction/UpdateFunctionConfiguration members for a function.
pub fn settings(f: &DeployedFunction) -> FunctionSettings {
    let c = &f.config;
    let l = &c.limits;
    FunctionSettings {
        runtime: c.runtime.clone(),
        handler: c.handler.clone(),
        description: c.description.clone(),
        memory_size: c.memory_mb,
        ephemeral_storage: Size {
            size: c.ephemeral_mb,
        },
        timeout: c.timeout_ms.div_ceil(1000).max(1),
        environment: Environment {
            variables: Some(c.environment.clone()),
        },
        image_config: ImageConfig {
            entry_point: c.command.clone().unwrap_or_default(),
        },
        ondol: OndolSettings {
            max_concurrency: l.max_concurrency,
            min_warm: l.min_warm,
            idle_timeout_ms: l.idle_timeout_ms,
            init_timeout_ms: l.init_timeout_ms,
            slow_init_ms: l.slow_init_ms,
            max_request_bytes: l.max_request_bytes,
            max_response_bytes: l.max_response_bytes,
            queue_depth: l.queue_depth,
            queue_wait_ms: l.queue_wait_ms,
            timeout_ms: c.timeout_ms,
            network: c.network.as_str().to_string(),
            readiness_path: c.web.as_ref().map(|w| w.readiness_path.clone()),
            instance_concurrency: c.web.as_ref().map(|w| w.instance_concurrency),
        },
        layers: c.layers.iter().map(|l| l.arn.clone()).collect(),
    }
}

/// A hash of everything a function's version is published from: its code and its
/// configuration in this stage. The settings are hashed as a JSON object with
/// sorted keys, so the hash does not depend on the order of the struct's fields.
pub fn fingerprint(f: &DeployedFunction, code_sha256: &str) -> String {
    use sha2::{Digest, Sha256};
    let settings = serde_json::to_value(settings(f)).expect("settings are plain JSON");
    let mut h = Sha256::new();
    h.update(settings.to_string());
    h.update(b"\n");
    h.update(code_sha256);
    hex::encode(&h.finalize()[..12])
}

/// What putting `$LATEST` did.
pub struct Put {
    /// The RevisionId `$LATEST` has now.
    pub revision: String,
    pub uploaded: bool,
    /// `$LATEST` as it was (`None`: just created).
    pub before: Option<Saved>,
}

/// Makes `$LATEST` the function's code and configuration.
pub async fn put_latest(
    c: &Client,
    f: &DeployedFunction,
    pkg: &Package,
    progress: &Progress,
) -> Result<Put> {
    let name = &f.config.name;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pkg.zip);
    let kb = pkg.zip.len().div_ceil(1024);
    let settings = settings(f);
    let Some(current) = c.lambda().get_function(name).await? else {
        progress.step(format!("creating {name}"));
        let body = CreateFunction {
            function_name: name,
            role: "arn:aws:iam::000000000000:role/ondol",
            code: Zip { zip_file: &b64 },
            settings: &settings,
        };
        let v = c.lambda().create_function(&body).await?;
        progress.done(format!("{name}: created, code uploaded ({kb} KB)"));
        return Ok(Put {
            revision: v.revision_id,
            uploaded: true,
            before: None,
        });
    };
    let saved = Saved::of(name, &current);
    progress.step(format!("configuring {name}"));
    let raced = |e: anyhow::Error| match refused_with(&e) {
        Some(StatusCode::PRECONDITION_FAILED) => raced(name),
        _ => e,
    };
    let body = UpdateConfiguration {
        settings: &settings,
        revision_id: &current.configuration.revision_id,
    };
    let mut v = c
        .lambda()
        .update_configuration(name, &body)
        .await
        .map_err(raced)?;
    let uploaded = current.configuration.code_sha256 != pkg.sha256;
    if uploaded {
        progress.step(format!("uploading {name}"));
        let body = UpdateCode {
            zip_file: &b64,
            revision_id: &v.revision_id,
        };
        v = c.lambda().update_code(name, &body).await.map_err(raced)?;
        progress.done(format!("{name}: code uploaded ({kb} KB)"));
    } else {
        progress.done(format!("{name}: configured, code unchanged"));
    }
    Ok(Put {
        revision: v.revision_id,
        uploaded,
        before: Some(saved),
    })
}

fn raced(name: &str) -> anyhow::Error {
    anyhow!("{name} was changed by another deploy while this one ran; deploy again")
}

/// Publishes `$LATEST` as exactly what was just put there (a concurrent deploy of
/// another stage changes the RevisionId, and this one then says so).
pub async fn publish(
    c: &Client,
    name: &str,
    revision: &str,
    progress: &Progress,
) -> Result<String> {
    progress.step(format!("publishing {name}"));
    let v = match c.lambda().publish_version(name, revision).await {
        Ok(v) => v,
        Err(e) if refused_with(&e) == Some(StatusCode::PRECONDITION_FAILED) => {
            return Err(raced(name))
        }
        Err(e) => bail!("publishing {name}: {e}"),
    };
    progress.done(format!("{name}: version {} published", v.version));
    Ok(v.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The settings hash as the untyped body did, so an upgraded CLI still sees
    /// the versions it published before as unchanged.
    #[test]
    fn settings_serialize_as_the_untyped_body_did() {
        let s = FunctionSettings {
            runtime: "python3.11".into(),
            handler: "app.handler".into(),
            description: "d".into(),
            memory_size: 128,
            ephemeral_storage: Size { size: 512 },
            timeout: 3,
            environment: Environment {
                variables: Some([("A".to_string(), "1".to_string())].into()),
            },
            image_config: ImageConfig {
                entry_point: vec![],
            },
            ondol: OndolSettings {
                max_concurrency: 10,
                min_warm: 0,
                idle_timeout_ms: 1,
                init_timeout_ms: 2,
                slow_init_ms: 3,
                max_request_bytes: 4,
                max_response_bytes: 5,
                queue_depth: 6,
                queue_wait_ms: 7,
                timeout_ms: 3000,
                network: "on".into(),
                readiness_path: Some("/health".into()),
                instance_concurrency: Some(8),
            },
            layers: vec!["arn:l:1".into()],
        };
        let old = json!({
            "Runtime": "python3.11", "Handler": "app.handler", "Description": "d",
            "MemorySize": 128, "EphemeralStorage": { "Size": 512 }, "Timeout": 3,
            "Environment": { "Variables": { "A": "1" } },
            "ImageConfig": { "EntryPoint": [] },
            "Ondol": {
                "MaxConcurrency": 10, "MinWarm": 0, "IdleTimeoutMs": 1, "InitTimeoutMs": 2,
                "SlowInitMs": 3, "MaxRequestBytes": 4, "MaxResponseBytes": 5, "QueueDepth": 6,
                "QueueWaitMs": 7, "TimeoutMs": 3000, "Network": "on",
                "ReadinessPath": "/health", "InstanceConcurrency": 8,
            },
            "Layers": ["arn:l:1"],
        });
        let new = serde_json::to_value(&s).unwrap();
        assert_eq!(new.to_string(), old.to_string());
    }
}
