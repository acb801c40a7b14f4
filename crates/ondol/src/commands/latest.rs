//! `$LATEST` as a deploy found it, and putting it back: a deploy that fails before
//! the new versions serve (a version that does not start, a shift rolled back)
//! leaves each function's `$LATEST` configuration and code as they were, so the
//! next `invoke` of `$LATEST` and the next deploy start from what worked.

use anyhow::{bail, Result};
use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use super::deploy::call;
use crate::client;

/// One function's `$LATEST` before this deploy changed it.
pub struct Saved {
    pub name: String,
    /// GetFunction's `Configuration`.
    config: Value,
    /// Where its code can be read back (`/ondol/v1/code/<sha256>`).
    code_location: String,
    /// The RevisionId this deploy left; the put-back follows it, so a change made
    /// by someone else since is not overwritten.
    pub revision: String,
}

impl Saved {
    /// Remembers `$LATEST` from a GetFunction reply.
    pub fn of(name: &str, current: &Value) -> Self {
        Self {
            name: name.to_string(),
            config: current["Configuration"].clone(),
            code_location: current["Code"]["Location"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            revision: String::new(),
        }
    }

    /// The UpdateFunctionConfiguration body that makes `$LATEST` what it was.
    fn config_body(&self) -> Value {
        let c = &self.config;
        let entry = c["ImageConfigResponse"]["ImageConfig"]["EntryPoint"].clone();
        json!({
            "Runtime": c["Runtime"],
            "Handler": c["Handler"],
            "Description": c["Description"],
            "MemorySize": c["MemorySize"],
            "Timeout": c["Timeout"],
            "Environment": { "Variables": c["Environment"]["Variables"] },
            "ImageConfig": { "EntryPoint": if entry.is_array() { entry } else { json!([]) } },
            "Ondol": c["Ondol"],
            "Layers": layer_arns(&c["Layers"]),
            "RevisionId": self.revision,
        })
    }

    /// Puts the configuration back, then the code if it changed.
    pub async fn restore(&self, endpoint: &str) -> Result<()> {
        let fpath = format!("/2015-03-31/functions/{}", self.name);
        let (_, v) = call(
            endpoint,
            Method::PUT,
            &format!("{fpath}/configuration"),
            Some(self.config_body()),
        )
        .await?;
        if v["CodeSha256"] == self.config["CodeSha256"] {
            return Ok(());
        }
        let url = format!("{}{}", endpoint.trim_end_matches('/'), self.code_location);
        let r = client::call(Method::GET, &url, &[], Bytes::new()).await?;
        if !r.status.is_success() {
            bail!("reading its previous code: {}", client::error_message(&r));
        }
        let zip = base64::engine::general_purpose::STANDARD.encode(&r.body);
        call(
            endpoint,
            Method::PUT,
            &format!("{fpath}/code"),
            Some(json!({ "ZipFile": zip, "RevisionId": v["RevisionId"] })),
        )
        .await?;
        Ok(())
    }
}

/// The ARNs of GetFunction's `Layers` (`[{Arn, CodeSize}]`).
fn layer_arns(layers: &Value) -> Vec<Value> {
    layers
        .as_array()
        .map(|a| a.iter().map(|l| l["Arn"].clone()).collect())
        .unwrap_or_default()
}

/// Puts back every saved `$LATEST`; returns what could not be put back.
pub async fn restore_all(endpoint: &str, saved: &[Saved]) -> Vec<String> {
    let mut trouble = Vec::new();
    for s in saved {
        if let Err(e) = s.restore(endpoint).await {
            trouble.push(format!("$LATEST of {}: {e}", s.name));
        }
    }
    trouble
}
