//! A function's stage alias: what it serves, pointing it at a version (or a
//! split), and draining the versions no alias serves any more.

use anyhow::{bail, Result};

use super::Switch;
use crate::api::types::{Alias, RoutingConfig};
use crate::api::Client;
use crate::progress::Progress;

/// An alias's version, and whether it also sends a share to another version.
pub async fn state(c: &Client, name: &str, alias: &str) -> Result<(Option<String>, bool)> {
    Ok(match c.lambda().get_alias(name, alias).await? {
        None => (None, false),
        Some(a) => {
            let split = a.weights().next().is_some();
            (Some(a.function_version), split)
        }
    })
}

/// Points an alias at one version with no share elsewhere.
pub async fn set_plain(c: &Client, name: &str, alias: &str, version: &str) -> Result<()> {
    put(c, name, alias, version, None).await
}

/// Points an alias at `version`, giving `extra` = (another version, its share) if
/// traffic is split.
pub async fn put(
    c: &Client,
    name: &str,
    alias: &str,
    version: &str,
    extra: Option<(&str, f64)>,
) -> Result<()> {
    let body = Alias {
        name: None,
        function_version: version.to_string(),
        routing_config: Some(RoutingConfig {
            additional_version_weights: extra
                .map(|(v, w)| (v.to_string(), w))
                .into_iter()
                .collect(),
        }),
    };
    if !c.lambda().update_alias(name, alias, &body).await? {
        bail!("alias {name}:{alias} was deleted while this deploy ran");
    }
    Ok(())
}

/// Moves every switch's alias (all were warmed first); a first deploy creates it.
pub async fn switch_all(c: &Client, switches: &[Switch], progress: &Progress) -> Result<()> {
    for s in switches {
        progress.step(format!("switching {} to version {}", s.function, s.new));
        if s.old.is_some() {
            set_plain(c, &s.function, &s.alias, &s.new).await?;
        } else {
            let alias = Alias {
                name: Some(s.alias.clone()),
                function_version: s.new.clone(),
                routing_config: None,
            };
            c.lambda().create_alias(&s.function, &alias).await?;
        }
        progress.done(format!("{}: version {} serves", s.function, s.new));
    }
    Ok(())
}

/// The old versions' idle instances stop; busy ones finish their work. A version
/// another stage still serves keeps running.
pub async fn drain_old(c: &Client, switches: &[Switch], progress: &Progress) -> Result<()> {
    let mut drained = 0;
    for s in switches {
        let Some(old) = &s.old else { continue };
        let aliases = c.lambda().list_aliases(&s.function).await?.aliases;
        let still_served = aliases
            .iter()
            .any(|a| a.function_version == *old || a.weights().any(|v| v == old));
        if !still_served {
            progress.step(format!("draining {} version {old}", s.function));
            drained += 1;
            c.ondol().drain(&s.function, old).await?;
        }
    }
    if drained > 0 {
        progress.done(format!("drained {drained} old version(s)"));
    }
    Ok(())
}
