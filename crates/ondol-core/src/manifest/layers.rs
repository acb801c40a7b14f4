//! `[layers.NAME]` and a function's `layers = [...]`: the app's own layers (each a
//! directory published as a layer version named `<app>-<NAME>`) and what each
//! function uses, in order: names of this file's layers or layer version ARNs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ManifestError;
use crate::arn::LayerArn;
use crate::name::valid_layer_name;

/// `[layers.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerDef {
    /// The directory published as the layer (`python/`, `nodejs/node_modules/`, `bin/`...).
    pub code: String,
    /// Shown by GetLayerVersion (default empty).
    pub description: Option<String>,
    /// Runtimes the layer declares (default none: any).
    pub compatible_runtimes: Option<Vec<String>>,
    /// The license it is published under (default none).
    pub license: Option<String>,
}

/// One of the app's layers, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedLayer {
    /// The name in the manifest.
    pub key: String,
    /// The layer's name on the server: `<app>-<key>`.
    pub name: String,
    pub code_dir: PathBuf,
    pub description: String,
    pub compatible_runtimes: Vec<String>,
    pub license: Option<String>,
}

/// One entry of a function's `layers`.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerUse {
    /// A `[layers.NAME]` of this file, by key: its newest version at deploy.
    Own(String),
    /// A layer version ARN, used as given.
    Arn(String),
}

/// Lambda's limit on the layers of one function.
const MAX_LAYERS: usize = 5;

fn err(file: &str, key: String, message: String) -> ManifestError {
    ManifestError {
        file: file.to_string(),
        key,
        message,
    }
}

/// Checks `[layers.NAME]`: names, directories inside the app.
pub(super) fn resolve_layers(
    defs: BTreeMap<String, LayerDef>,
    app: &str,
    base: &Path,
    file: &str,
) -> Result<Vec<DeployedLayer>, ManifestError> {
    let mut out = Vec::new();
    for (key, l) in defs {
        let name = format!("{app}-{key}");
        if !valid_layer_name(&key) || !valid_layer_name(&name) {
            return Err(err(
                file,
                format!("layers.{key}"),
                "expected a layer name of [a-zA-Z0-9-_] (at most 140 characters with the app name)"
                    .into(),
            ));
        }
        if l.code.is_empty()
            || Path::new(&l.code).is_absolute()
            || l.code.split('/').any(|c| c == "..")
        {
            return Err(err(
                file,
                format!("layers.{key}.code"),
                format!("expected a directory inside the app, got \"{}\"", l.code),
            ));
        }
        if l.description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 256)
        {
            return Err(err(
                file,
                format!("layers.{key}.description"),
                "expected at most 256 characters".into(),
            ));
        }
        out.push(DeployedLayer {
            key,
            name,
            code_dir: base.join(&l.code),
            description: l.description.unwrap_or_default(),
            compatible_runtimes: l.compatible_runtimes.unwrap_or_default(),
            license: l.license,
        });
    }
    Ok(out)
}

/// Checks one function's `layers`: at most 5, each a layer of this file or a layer
/// version ARN, no layer twice. An unknown name gets the nearest known one.
pub(super) fn resolve_uses(
    entries: &[String],
    layers: &[DeployedLayer],
    function: &str,
    file: &str,
) -> Result<Vec<LayerUse>, ManifestError> {
    let at = |i: usize| format!("functions.{function}.layers[{i}]");
    if entries.len() > MAX_LAYERS {
        return Err(err(
            file,
            format!("functions.{function}.layers"),
            format!(
                "expected at most {MAX_LAYERS} layers (Lambda's limit), got {}",
                entries.len()
            ),
        ));
    }
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let (use_, layer) = if let Some(a) = LayerArn::parse(e) {
            if a.version.is_none() {
                return Err(err(
                    file,
                    at(i),
                    format!("expected a layer version ARN ending in :<version>, got \"{e}\""),
                ));
            }
            (LayerUse::Arn(e.clone()), a.name)
        } else if let Some(l) = layers.iter().find(|l| l.key == *e) {
            (LayerUse::Own(e.clone()), l.name.clone())
        } else {
            let mut m = format!("expected the name of a [layers.NAME] table in this file or a layer version ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>), got \"{e}\"");
            if let Some(near) = nearest(e, layers.iter().map(|l| l.key.as_str())) {
                m.push_str(&format!("; did you mean \"{near}\"?"));
            }
            return Err(err(file, at(i), m));
        };
        if seen.contains(&layer) {
            return Err(err(file, at(i), format!("layer {layer} is already used by this function: a function takes one version of each layer")));
        }
        seen.push(layer);
        out.push(use_);
    }
    Ok(out)
}

/// The known name closest to `given`, if close enough to be a typo.
pub(super) fn nearest<'a>(given: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (distance(given, k), k))
        .filter(|(d, k)| *d <= (k.len().max(given.len()) / 3).max(2))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    const APP: &str = r#"
app = "shop"
[layers.deps]
code = "deps"
[functions.api]
runtime = "python3.11"
handler = "app.handler"
code = "api"
layers = ["deps", "arn:aws:lambda:us-east-1:000000000000:layer:other:3"]
"#;

    fn load(text: &str) -> Result<crate::manifest::Deployment, ManifestError> {
        Manifest::load(text, Path::new("/app"), "ondol.toml")
    }

    #[test]
    fn layers_resolve_in_order() {
        let d = load(APP).unwrap();
        assert_eq!(d.layers[0].name, "shop-deps");
        assert_eq!(d.layers[0].code_dir, Path::new("/app/deps"));
        assert_eq!(
            d.functions[0].layers,
            vec![
                LayerUse::Own("deps".into()),
                LayerUse::Arn("arn:aws:lambda:us-east-1:000000000000:layer:other:3".into())
            ]
        );
    }

    #[test]
    fn bad_entries_name_the_file_key_and_expectation() {
        let e = load(&APP.replace("\"deps\", \"arn", "\"dep\", \"arn")).unwrap_err();
        assert_eq!(e.key, "functions.api.layers[0]");
        assert!(
            e.message.contains("did you mean \"deps\"?"),
            "{}",
            e.message
        );
        let e = load(&APP.replace(":other:3", ":other")).unwrap_err();
        assert_eq!(e.key, "functions.api.layers[1]");
        let e = load(&APP.replace("\"deps\", \"arn", "\"deps\", \"deps\", \"arn")).unwrap_err();
        assert!(e.message.contains("already used"), "{}", e.message);
        let e = load(&APP.replace("code = \"deps\"", "code = \"../deps\"")).unwrap_err();
        assert_eq!(e.key, "layers.deps.code");
        let e = load(&APP.replace("code = \"deps\"", "code = \"deps\"\nzip = true")).unwrap_err();
        assert!(e.key.starts_with("layers.deps"), "{e}");
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(nearest("dep", ["deps", "tools"].into_iter()), Some("deps"));
        assert_eq!(nearest("zzzzzz", ["deps"].into_iter()), None);
    }
}
