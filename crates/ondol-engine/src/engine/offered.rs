//! The runtimes this node offers, and the check every function's runtime passes
//! before it is accepted: no silent substitution of another version.

use ondol_core::{FunctionConfig, RuntimeKind};

use super::Engine;

/// One Lambda runtime id and what runs it here.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeOffer {
    pub runtime: String,
    /// `python:3.11.7`; absent when not available.
    pub version: Option<String>,
    pub path: Option<String>,
    /// The runtime it is an operator's alias of.
    pub alias_of: Option<String>,
    /// Why it is not available.
    pub error: Option<String>,
}

impl Engine {
    /// Whether this node can run `cfg`'s runtime; the error names what it has
    /// and how to add one.
    pub async fn check_runtime(&self, cfg: &FunctionConfig) -> Result<(), String> {
        match cfg.runtime_kind() {
            Some(RuntimeKind::Python | RuntimeKind::Node) => {
                let i = &self.inner.runtimes.interpreters;
                i.resolve(&cfg.runtime).await.map(|_| ())
            }
            _ => Ok(()),
        }
    }

    /// Every Lambda runtime id with what runs it on this node.
    pub async fn runtimes(&self) -> Vec<RuntimeOffer> {
        let offered = self.inner.runtimes.interpreters.offered().await;
        offered
            .into_iter()
            .zip(ondol_core::runtimes::LAMBDA_RUNTIMES)
            .map(|(r, id)| match r {
                Ok(r) => RuntimeOffer {
                    runtime: r.runtime.clone(),
                    version: Some(r.runtime_version()),
                    path: r.interpreter.as_ref().map(|i| i.path.display().to_string()),
                    alias_of: r.alias_of.clone(),
                    error: None,
                },
                Err(e) => RuntimeOffer {
                    runtime: id.to_string(),
                    version: None,
                    path: None,
                    alias_of: None,
                    error: Some(e),
                },
            })
            .collect()
    }
}
