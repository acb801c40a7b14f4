//! Function names as users type them: a manifest key (`web`) inside an app
//! directory or with `--app`, resolved to its deployed name (`<app>-web`), or a
//! full name or ARN. An unknown name is an error naming what was asked, with the
//! closest existing functions.

use std::fmt;
use std::path::PathBuf;

use anyhow::Result;
use ondol_core::manifest::Manifest;
use serde::Deserialize;

use crate::api::{self, Client};

/// Where a function key is looked up: `--app`, else the `ondol.toml` in `--dir`.
#[derive(clap::Args, Clone, Debug)]
pub struct AppScope {
    /// The app whose function keys NAME may be (default: the app of the
    /// ondol.toml in --dir).
    #[arg(long, global = true)]
    pub app: Option<String>,
    /// The app directory whose ondol.toml maps function keys to names.
    #[arg(long, global = true, default_value = ".")]
    pub dir: PathBuf,
}

/// The app a key belongs to, and the keys its manifest declares.
struct AppContext {
    app: String,
    keys: Vec<String>,
}

impl AppScope {
    /// The app named by `--app`, or by a readable `ondol.toml` in `--dir`. A
    /// manifest that does not parse gives no app: full names still work.
    fn context(&self) -> Option<AppContext> {
        let path = self.dir.join("ondol.toml");
        let manifest = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| Manifest::parse(&text, &path.display().to_string()).ok());
        match (&self.app, manifest) {
            (Some(app), Some(m)) if &m.app == app => Some(AppContext {
                app: app.clone(),
                keys: m.functions.into_keys().collect(),
            }),
            (Some(app), _) => Some(AppContext {
                app: app.clone(),
                keys: vec![],
            }),
            (None, Some(m)) => Some(AppContext {
                app: m.app,
                keys: m.functions.into_keys().collect(),
            }),
            (None, None) => None,
        }
    }
}

/// A name that is neither a function on the server nor a key of the app.
#[derive(Debug)]
pub struct UnknownFunction {
    /// What the user typed.
    pub asked: String,
    /// The deployed names tried, in order.
    tried: Vec<String>,
    /// The closest existing names (a key is shown with its deployed name).
    suggestions: Vec<String>,
    /// Set when the key is in the manifest but was never deployed.
    undeployed: Option<String>,
}

impl fmt::Display for UnknownFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.undeployed {
            return write!(
                f,
                "function {:?} is in ondol.toml but {name} is not deployed: run `ondol deploy`",
                self.asked
            );
        }
        write!(f, "no function {:?}", self.asked)?;
        if self.tried.len() > 1 {
            write!(f, " (looked for {})", self.tried.join(" and "))?;
        }
        match self.suggestions.as_slice() {
            [] => write!(f, "; `ondol status` lists the deployed functions"),
            s => write!(f, "; did you mean {}?", s.join(", ")),
        }
    }
}

impl std::error::Error for UnknownFunction {}

#[derive(Deserialize)]
struct FunctionList {
    #[serde(rename = "Functions")]
    functions: Vec<FunctionEntry>,
    #[serde(rename = "NextMarker")]
    next_marker: Option<String>,
}

#[derive(Deserialize)]
struct FunctionEntry {
    #[serde(rename = "FunctionName")]
    name: String,
}

/// Every function name on the server (ListFunctions, all pages).
pub async fn deployed(c: &Client) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut path = "/2015-03-31/functions/?MaxItems=10000".to_string();
        if let Some(m) = &marker {
            path.push_str(&format!("&Marker={}", api::encode_segment(m)));
        }
        let page: FunctionList = c.get(&path).await?;
        names.extend(page.functions.into_iter().map(|f| f.name));
        match page.next_marker {
            Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
            _ => return Ok(names),
        }
    }
}

/// Resolves what the user typed to a deployed function name. An ARN is passed
/// through (the server judges it); `name:qualifier` keeps its qualifier.
pub async fn resolve(c: &Client, scope: &AppScope, typed: &str) -> Result<String> {
    if typed.starts_with("arn:") {
        return Ok(typed.to_string());
    }
    let (base, qualifier) = match typed.split_once(':') {
        Some((b, q)) => (b, Some(q)),
        None => (typed, None),
    };
    let found = lookup(&deployed(c).await?, scope.context().as_ref(), base)?;
    Ok(match qualifier {
        Some(q) => format!("{found}:{q}"),
        None => found,
    })
}

/// The deployed name `typed` means: the app's key first (inside an app, `web`
/// is that app's function), then a full name.
fn lookup(
    deployed: &[String],
    app: Option<&AppContext>,
    typed: &str,
) -> Result<String, UnknownFunction> {
    let exists = |n: &str| deployed.iter().any(|d| d == n);
    let mut tried = Vec::new();
    if let Some(c) = app {
        let full = format!("{}-{typed}", c.app);
        if exists(&full) {
            return Ok(full);
        }
        if c.keys.iter().any(|k| k == typed) {
            return Err(UnknownFunction {
                asked: typed.to_string(),
                tried: vec![],
                suggestions: vec![],
                undeployed: Some(full),
            });
        }
        tried.push(full);
    }
    if exists(typed) {
        return Ok(typed.to_string());
    }
    tried.push(typed.to_string());
    Err(UnknownFunction {
        asked: typed.to_string(),
        tried,
        suggestions: suggest(deployed, app, typed),
        undeployed: None,
    })
}

/// Up to three deployed functions closest to `typed` by edit distance, each
/// compared by its full name and by what follows each `-` in it (so `web`
/// finds `shop-web` outside the app too); the app's own show their key.
fn suggest(deployed: &[String], app: Option<&AppContext>, typed: &str) -> Vec<String> {
    let prefix = app.map(|c| format!("{}-", c.app));
    let mut scored: Vec<(usize, String)> = deployed
        .iter()
        .map(|name| {
            let d = std::iter::once(name.as_str())
                .chain(name.match_indices('-').map(|(i, _)| &name[i + 1..]))
                .map(|part| strsim::levenshtein(typed, part))
                .min()
                .unwrap_or(usize::MAX);
            match prefix.as_deref().and_then(|p| name.strip_prefix(p)) {
                Some(key) => (d, format!("{key} ({name})")),
                None => (d, name.clone()),
            }
        })
        .filter(|(d, _)| *d <= (typed.chars().count() / 3).max(2))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn shop() -> AppContext {
        AppContext {
            app: "shop".into(),
            keys: names(&["web", "boom", "later"]),
        }
    }

    #[test]
    fn a_key_resolves_to_its_deployed_name_before_a_full_name() {
        let d = names(&["shop-web", "web", "other"]);
        assert_eq!(lookup(&d, Some(&shop()), "web").unwrap(), "shop-web");
        assert_eq!(lookup(&d, Some(&shop()), "shop-web").unwrap(), "shop-web");
        assert_eq!(lookup(&d, None, "web").unwrap(), "web");
        assert_eq!(lookup(&d, None, "other").unwrap(), "other");
    }

    #[test]
    fn an_unknown_name_suggests_the_closest() {
        let d = names(&["shop-web", "shop-boom", "billing"]);
        let e = lookup(&d, Some(&shop()), "wbe").unwrap_err().to_string();
        assert_eq!(
            e,
            "no function \"wbe\" (looked for shop-wbe and wbe); did you mean web (shop-web)?"
        );
        let e = lookup(&d, None, "biling").unwrap_err().to_string();
        assert_eq!(e, "no function \"biling\"; did you mean billing?");
        let e = lookup(&d, None, "web").unwrap_err().to_string();
        assert_eq!(e, "no function \"web\"; did you mean shop-web?");
        let e = lookup(&d, None, "zzzzzzzzzz").unwrap_err().to_string();
        assert!(e.contains("`ondol status` lists"), "{e}");
    }

    #[test]
    fn a_declared_key_never_deployed_says_so() {
        let d = names(&["shop-web"]);
        let e = lookup(&d, Some(&shop()), "later").unwrap_err().to_string();
        assert!(e.contains("shop-later is not deployed"), "{e}");
    }
}
