//! `$LATEST` as a deploy found it, and putting it back: a deploy that fails before
//! the new versions serve (a version that does not start, a shift rolled back)
//! leaves each function's `$LATEST` configuration and code as they were, so the
//! next `invoke` of `$LATEST` and the next deploy start from what worked.

use anyhow::Result;
use base64::Engine as _;
use serde::Serialize;

use crate::api::types::{
    EnvironmentAnswer, FunctionConfiguration, GetFunction, ImageConfig, UpdateCode,
    UpdateConfiguration,
};
use crate::api::Client;

/// One function's `$LATEST` before this deploy changed it.
pub struct Saved {
    pub name: String,
    /// GetFunction's `Configuration`.
    config: FunctionConfiguration,
    /// Where its code can be read back (`/ondol/v1/code/<sha256>`).
    code_location: String,
    /// The RevisionId this deploy left; the put-back follows it, so a change made
    /// by someone else since is not overwritten.
    pub revision: String,
}

/// The UpdateFunctionConfiguration members that make `$LATEST` what it was (the
/// saved values as they came, `null` where the server gave none).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Restore<'a> {
    runtime: &'a Option<String>,
    handler: &'a Option<String>,
    description: &'a Option<String>,
    memory_size: &'a Option<u32>,
    timeout: &'a Option<u64>,
    environment: &'a EnvironmentAnswer,
    image_config: ImageConfig,
    ondol: &'a serde_json::Value,
    layers: Vec<&'a str>,
}

impl Saved {
    /// Remembers `$LATEST` from a GetFunction reply.
    pub fn of(name: &str, current: &GetFunction) -> Self {
        Self {
            name: name.to_string(),
            config: current.configuration.clone(),
            code_location: current.code.location.clone(),
            revision: String::new(),
        }
    }

    fn restore_body(&self) -> Restore<'_> {
        let c = &self.config;
        let entry_point = c
            .image_config_response
            .as_ref()
            .and_then(|r| r.image_config.as_ref())
            .map(|i| i.entry_point.clone())
            .unwrap_or_default();
        Restore {
            runtime: &c.runtime,
            handler: &c.handler,
            description: &c.description,
            memory_size: &c.memory_size,
            timeout: &c.timeout,
            environment: c.environment.as_ref().unwrap_or(&NO_ENVIRONMENT),
            image_config: ImageConfig { entry_point },
            ondol: &c.ondol,
            layers: c.layers.iter().map(|l| l.arn.as_str()).collect(),
        }
    }

    /// Puts the configuration back, then the code if it changed.
    pub async fn restore(&self, c: &Client) -> Result<()> {
        let body = UpdateConfiguration {
            settings: &self.restore_body(),
            revision_id: &self.revision,
        };
        let v = c.lambda().update_configuration(&self.name, &body).await?;
        if v.code_sha256 == self.config.code_sha256 {
            return Ok(());
        }
        let code = c.ondol().code(&self.code_location).await?;
        let zip = base64::engine::general_purpose::STANDARD.encode(&code);
        let body = UpdateCode {
            zip_file: &zip,
            revision_id: &v.revision_id,
        };
        c.lambda().update_code(&self.name, &body).await?;
        Ok(())
    }
}

static NO_ENVIRONMENT: EnvironmentAnswer = EnvironmentAnswer { variables: None };

/// Puts back every saved `$LATEST`; returns what could not be put back.
pub async fn restore_all(c: &Client, saved: &[Saved]) -> Vec<String> {
    let mut trouble = Vec::new();
    for s in saved {
        if let Err(e) = s.restore(c).await {
            trouble.push(format!("$LATEST of {}: {e}", s.name));
        }
    }
    trouble
}
