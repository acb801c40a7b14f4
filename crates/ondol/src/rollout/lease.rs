//! A deploy's lease on a split alias: the server puts the alias back if the
//! deploy stops renewing it (the process died mid-shift).

use anyhow::{bail, Result};
use serde::Serialize;

use super::Switch;
use crate::api::Client;

/// How long the server waits for a renewal before it reverts a split alias, and
/// how often a shifting deploy renews.
const LEASE_TTL_MS: u64 = 5000;
pub const LEASE_RENEW: std::time::Duration = std::time::Duration::from_secs(1);

/// This deploy's lease on a split alias.
pub struct Lease<'a> {
    client: &'a Client,
    path: String,
    token: String,
    revert_to: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LeaseBody<'a> {
    revert_to: &'a str,
    ttl_ms: u64,
    token: &'a str,
    renew: bool,
}

impl<'a> Lease<'a> {
    pub async fn take(client: &'a Client, s: &Switch, revert_to: &str) -> Result<Lease<'a>> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let lease = Lease {
            client,
            path: format!(
                "/ondol/v1/functions/{}/aliases/{}/lease",
                s.function, s.alias
            ),
            token: format!("{}-{nanos:x}", std::process::id()),
            revert_to: revert_to.to_string(),
        };
        lease.put(false).await?;
        Ok(lease)
    }

    /// Renews; fails if the lease ran out (the server already put the alias back).
    pub async fn renew(&self) -> Result<()> {
        self.put(true).await
    }

    async fn put(&self, renew: bool) -> Result<()> {
        let body = LeaseBody {
            revert_to: &self.revert_to,
            ttl_ms: LEASE_TTL_MS,
            token: &self.token,
            renew,
        };
        if !self.client.ondol().put_lease(&self.path, &body).await? {
            bail!("{}: the alias was deleted while this deploy ran", self.path);
        }
        Ok(())
    }

    pub async fn release(&self) -> Result<()> {
        self.client
            .ondol()
            .release_lease(&self.path, &self.token)
            .await
    }
}
