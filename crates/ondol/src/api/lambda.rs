//! The Lambda-shaped calls: functions, versions, aliases, async settings and
//! layers.

use anyhow::Result;
use bytes::Bytes;
use http::Method;
use serde::Serialize;

use super::types::*;
use super::{encode_segment, ApiError, Client};

/// The Lambda-shaped API of one client.
pub struct Lambda<'a>(pub(super) &'a Client);

const FUNCTIONS: &str = "/2015-03-31/functions";

impl Lambda<'_> {
    /// GetFunction; `None` if there is no such function.
    pub async fn get_function(&self, name: &str) -> Result<Option<GetFunction>> {
        let path = format!("{FUNCTIONS}/{name}");
        self.0.send_opt(Method::GET, &path, None::<&()>).await
    }

    pub async fn create_function(
        &self,
        body: &CreateFunction<'_>,
    ) -> Result<FunctionConfiguration> {
        self.0.send(Method::POST, FUNCTIONS, Some(body)).await
    }

    /// UpdateFunctionConfiguration of `$LATEST`.
    pub async fn update_configuration(
        &self,
        name: &str,
        body: &impl Serialize,
    ) -> Result<FunctionConfiguration> {
        let path = format!("{FUNCTIONS}/{name}/configuration");
        self.0.send(Method::PUT, &path, Some(body)).await
    }

    pub async fn update_code(
        &self,
        name: &str,
        body: &UpdateCode<'_>,
    ) -> Result<FunctionConfiguration> {
        let path = format!("{FUNCTIONS}/{name}/code");
        self.0.send(Method::PUT, &path, Some(body)).await
    }

    /// PublishVersion of exactly `revision`; a refusal is an [`ApiError`] not
    /// naming the path (412: `$LATEST` changed since).
    pub async fn publish_version(
        &self,
        name: &str,
        revision: &str,
    ) -> Result<FunctionConfiguration> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Publish<'a> {
            revision_id: &'a str,
        }
        let path = format!("{FUNCTIONS}/{name}/versions");
        let body = Bytes::from(serde_json::to_vec(&Publish {
            revision_id: revision,
        })?);
        let r = self.0.raw(Method::POST, &path, &[], body).await?;
        if !r.status.is_success() {
            return Err(ApiError::of(&r, None).into());
        }
        Ok(serde_json::from_slice(&r.body).unwrap_or_default())
    }

    pub async fn delete_function(&self, name: &str) -> Result<()> {
        let path = format!("{FUNCTIONS}/{name}");
        self.0.send_unit(Method::DELETE, &path, None::<&()>).await?;
        Ok(())
    }

    /// GetAlias; `None` if there is no such alias.
    pub async fn get_alias(&self, name: &str, alias: &str) -> Result<Option<Alias>> {
        let path = format!("{FUNCTIONS}/{name}/aliases/{alias}");
        self.0.send_opt(Method::GET, &path, None::<&()>).await
    }

    /// UpdateAlias; false if the alias is gone.
    pub async fn update_alias(&self, name: &str, alias: &str, body: &Alias) -> Result<bool> {
        let path = format!("{FUNCTIONS}/{name}/aliases/{alias}");
        self.0.send_unit(Method::PUT, &path, Some(body)).await
    }

    pub async fn create_alias(&self, name: &str, body: &Alias) -> Result<()> {
        let path = format!("{FUNCTIONS}/{name}/aliases");
        self.0.send_unit(Method::POST, &path, Some(body)).await?;
        Ok(())
    }

    pub async fn list_aliases(&self, name: &str) -> Result<AliasList> {
        let path = format!("{FUNCTIONS}/{name}/aliases");
        Ok(self
            .0
            .send_opt(Method::GET, &path, None::<&()>)
            .await?
            .unwrap_or_default())
    }

    /// DeleteAlias (refused with 409 while a deploy shifts traffic through it).
    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        let path = format!("{FUNCTIONS}/{name}/aliases/{alias}");
        self.0.send_unit(Method::DELETE, &path, None::<&()>).await?;
        Ok(())
    }

    /// PutFunctionEventInvokeConfig for the function, or one alias of it.
    pub async fn put_event_config(
        &self,
        name: &str,
        qualifier: Option<&str>,
        body: &EventInvokeConfig,
    ) -> Result<()> {
        let path = event_config_path(name, qualifier);
        self.0.send_unit(Method::PUT, &path, Some(body)).await?;
        Ok(())
    }

    pub async fn delete_event_config(&self, name: &str, qualifier: Option<&str>) -> Result<()> {
        let path = event_config_path(name, qualifier);
        self.0.send_unit(Method::DELETE, &path, None::<&()>).await?;
        Ok(())
    }

    /// The newest `max` versions of a layer; `None` if it has none.
    pub async fn layer_versions(&self, layer: &str, max: u32) -> Result<Option<LayerVersionList>> {
        let path = format!("/2018-10-31/layers/{layer}/versions?MaxItems={max}");
        self.0.send_opt(Method::GET, &path, None::<&()>).await
    }

    pub async fn layer_version(&self, layer: &str, version: u64) -> Result<LayerVersion> {
        let path = format!("/2018-10-31/layers/{layer}/versions/{version}");
        self.0.send(Method::GET, &path, None::<&()>).await
    }

    pub async fn publish_layer(
        &self,
        layer: &str,
        body: &PublishLayer<'_>,
    ) -> Result<LayerVersion> {
        let path = format!("/2018-10-31/layers/{layer}/versions");
        self.0.send(Method::POST, &path, Some(body)).await
    }
}

fn event_config_path(name: &str, qualifier: Option<&str>) -> String {
    let mut path = format!("/2019-09-25/functions/{name}/event-invoke-config");
    if let Some(q) = qualifier {
        path.push_str(&format!("?Qualifier={}", encode_segment(q)));
    }
    path
}
