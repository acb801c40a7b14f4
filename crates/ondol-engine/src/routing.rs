//! Qualifier routing: which version `name:qualifier` runs. Versions route to
//! themselves; an alias to its version, or by weight to a second one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;

/// Where an alias sends traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasRoute {
    pub primary: String,
    /// A second version and the share of invocations it gets, in [0, 1].
    pub additional: Option<(String, f64)>,
}

#[derive(Debug, Default)]
struct Routing {
    versions: HashSet<String>,
    aliases: HashMap<String, AliasRoute>,
}

#[derive(Default)]
pub(crate) struct Routes(RwLock<HashMap<String, Arc<Routing>>>);

impl Routes {
    pub fn set(&self, name: &str, versions: HashSet<String>, aliases: HashMap<String, AliasRoute>) {
        self.0
            .write()
            .insert(name.to_string(), Arc::new(Routing { versions, aliases }));
    }

    pub fn remove(&self, name: &str) {
        self.0.write().remove(name);
    }

    /// The version to run, picking by weight for a weighted alias; `None` when the
    /// function or qualifier doesn't exist. No qualifier means `$LATEST`.
    pub fn pick(&self, name: &str, qualifier: Option<&str>) -> Option<String> {
        let routing = self.0.read().get(name)?.clone();
        let q = qualifier.unwrap_or("$LATEST");
        if routing.versions.contains(q) {
            return Some(q.to_string());
        }
        let alias = routing.aliases.get(q)?;
        if let Some((v, w)) = &alias.additional {
            if rand::random::<f64>() < *w {
                return Some(v.clone());
            }
        }
        Some(alias.primary.clone())
    }
}
