//! A function's `Metadata` (how `sam build` builds it): the native builders are
//! ondol's own dependency build; `BuildMethod: esbuild` with its
//! `BuildProperties` becomes the function's `compile = { tool = "esbuild" }`.

use serde_json::Value;
use toml_edit::{Array, InlineTable};

use super::Report;

/// Reports `Metadata` of resource `id`; returns the `compile` table it asks for.
pub fn metadata(id: &str, v: &Value, report: &mut Report) -> Option<InlineTable> {
    let base = format!("Resources.{id}.Metadata");
    let method = v.get("BuildMethod").and_then(Value::as_str).unwrap_or("");
    let mut compile = None;
    for (mk, mv) in v.as_object().into_iter().flatten() {
        let key = format!("{base}.{mk}");
        let native = method.starts_with("python") || method.starts_with("nodejs");
        match mk.as_str() {
            "BuildMethod" if native => report.mapped(key, "ondol's own build: requirements.txt or package.json, installed for the runtime"),
            "BuildMethod" if method == "esbuild" => report.mapped(key, "compile = { tool = \"esbuild\" } (the project's own esbuild, at deploy)"),
            "BuildMethod" => report.unsupported(key, format!("sam build's {method} step is not run: ship what it would build in the code directory")),
            "BuildProperties" if method == "esbuild" => {
                compile = Some(properties(&key, mv, report));
            }
            _ => report.unsupported(key, "sam build metadata ondol does not use"),
        }
    }
    if method == "esbuild" {
        let mut t = compile.unwrap_or_default();
        t.insert("tool", "esbuild".into());
        t.sort_values_by(|a, _, b, _| (a.get() != "tool").cmp(&(b.get() != "tool")));
        return Some(t);
    }
    None
}

/// `BuildProperties` of the esbuild builder as `compile` options.
fn properties(base: &str, v: &Value, report: &mut Report) -> InlineTable {
    let mut t = InlineTable::new();
    for (k, x) in v.as_object().into_iter().flatten() {
        let key = format!("{base}.{k}");
        let truthy = matches!(x, Value::Bool(true)) || x.as_str() == Some("true");
        match (k.as_str(), x) {
            ("Minify", _) => {
                t.insert("minify", truthy.into());
                report.mapped(key, format!("compile.minify = {truthy}"));
            }
            ("Sourcemap", _) => {
                t.insert("sourcemap", truthy.into());
                report.mapped(key, format!("compile.sourcemap = {truthy}"));
            }
            ("Target", Value::String(s)) => {
                t.insert("target", s.as_str().into());
                report.mapped(key, format!("compile.target = {s:?}"));
            }
            ("EntryPoints", Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
                let e = a[0].as_str().unwrap_or_default();
                t.insert("entry", e.into());
                report.mapped(key, format!("compile.entry = {e:?}"));
            }
            ("EntryPoints", _) => report.unsupported(
                key,
                "one entry point per function (the handler's file) is compiled",
            ),
            ("External", Value::Array(a)) => {
                let names: Array = a.iter().filter_map(Value::as_str).collect();
                t.insert("external", names.into());
                report.mapped(
                    key,
                    "compile.external (shipped from the built node_modules)",
                );
            }
            ("Format", f) if f.as_str() == Some("cjs") => {
                report.mapped(key, "CommonJS (what ondol's esbuild step writes)")
            }
            ("Format", _) => {
                report.unsupported(key, "the bundle is written as CommonJS (format = cjs)")
            }
            ("UseNpmCi", _) => {
                report.mapped(key, "npm ci is run when a package-lock.json is there")
            }
            _ => report.unsupported(key, "an esbuild option ondol's compile does not take"),
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esbuild_metadata_becomes_compile_and_every_key_is_reported() {
        let v: Value = serde_json::json!({
            "BuildMethod": "esbuild",
            "BuildProperties": {"Minify": true, "Target": "es2020", "Sourcemap": true,
                "EntryPoints": ["app.ts"], "Banner": "x"}
        });
        let mut r = Report::default();
        let t = metadata("Hello", &v, &mut r).unwrap();
        assert_eq!(
            t.to_string(),
            "{ tool = \"esbuild\", entry = \"app.ts\", minify = true, sourcemap = true, target = \"es2020\" }"
        );
        assert_eq!(r.unsupported_count(), 1, "{r}");
        let mut r = Report::default();
        let py = serde_json::json!({"BuildMethod": "python3.12"});
        assert!(metadata("Hello", &py, &mut r).is_none());
        assert_eq!(r.unsupported_count(), 0);
    }
}
