//! The TypeScript plugins: `serverless-esbuild` (with `custom.esbuild`) and
//! `serverless-plugin-typescript` (with `custom.serverlessPluginTypescript`)
//! become each Node function's `compile`, run at deploy with the project's own
//! esbuild or tsc.

use serde_norway::Value;
use toml_edit::{Array, InlineTable};

use super::vars::scalar_text;
use super::Report;

/// The plugins named by `plugins:` (a list, or `modules:` of a mapping).
pub fn plugin_names(v: Option<&Value>) -> Vec<String> {
    let list = match v {
        Some(Value::Sequence(s)) => s.clone(),
        Some(Value::Mapping(m)) => m
            .get("modules")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    list.iter().map(scalar_text).collect()
}

/// The `compile` table the service's plugins ask for, its options reported.
pub fn compile(doc: &Value, report: &mut Report) -> Option<InlineTable> {
    let plugins = plugin_names(doc.get("plugins"));
    let custom = doc.get("custom");
    let mut t = InlineTable::new();
    if plugins.iter().any(|p| p == "serverless-esbuild") {
        t.insert("tool", "esbuild".into());
        let opts = custom.and_then(|c| c.get("esbuild"));
        esbuild_options(opts, &mut t, report);
    } else if plugins.iter().any(|p| p == "serverless-plugin-typescript") {
        t.insert("tool", "tsc".into());
        let opts = custom.and_then(|c| c.get("serverlessPluginTypescript"));
        for (k, v) in opts.and_then(Value::as_mapping).into_iter().flatten() {
            let k = scalar_text(k);
            let key = format!("custom.serverlessPluginTypescript.{k}");
            if k == "tsConfigFileLocation" {
                let path = scalar_text(v);
                let path = path.trim_start_matches("./");
                t.insert("tsconfig", path.into());
                report.mapped(key, format!("compile.tsconfig = {path:?}"));
            } else {
                report.unsupported(key, "a plugin option ondol's compile does not take");
            }
        }
    } else {
        return None;
    }
    Some(t)
}

/// One Serverless package pattern as a gitignore line: `patterns` include unless
/// negated with `!` (the opposite of gitignore), `exclude` excludes and `include`
/// re-includes; globs are relative to the service root, so they are anchored.
pub fn exclude_line(list: &str, pattern: &str) -> String {
    let (negated, p) = match pattern.strip_prefix('!') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let p = p.trim_start_matches("./");
    let anchored = if p.starts_with("**") || p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    let excluded = match list {
        "patterns" => negated,
        "include" => false,
        _ => true,
    };
    if excluded {
        anchored
    } else {
        format!("!{anchored}")
    }
}

/// `custom.esbuild` as `compile` options.
fn esbuild_options(opts: Option<&Value>, t: &mut InlineTable, report: &mut Report) {
    for (k, v) in opts.and_then(Value::as_mapping).into_iter().flatten() {
        let k = scalar_text(k);
        let key = format!("custom.esbuild.{k}");
        // serverless-esbuild also takes sourcemap: "inline" / "external" / "linked".
        let truthy = !matches!(v, Value::Bool(false) | Value::Null);
        match k.as_str() {
            "bundle" | "minify" | "sourcemap" => {
                t.insert(&k, truthy.into());
                report.mapped(key, format!("compile.{k} = {truthy}"));
            }
            "target" => {
                let s = scalar_text(v);
                t.insert("target", s.as_str().into());
                report.mapped(key, format!("compile.target = {s:?}"));
            }
            "external" => {
                let names: Array = v.as_sequence().into_iter().flatten().map(scalar_text).collect();
                t.insert("external", names.into());
                report.mapped(key, "compile.external (shipped from the built node_modules)");
            }
            "exclude" => report.mapped(
                key,
                "nothing: the bundle holds what the code imports (no AWS SDK is provided by ondol's runtimes)",
            ),
            "platform" if scalar_text(v) == "node" => report.mapped(key, "platform node (always)"),
            "concurrency" | "packager" | "watch" | "installExtraArgs" => {
                report.mapped(key, "nothing: a setting of the plugin's own build")
            }
            _ => report.unsupported(key, "an esbuild option ondol's compile does not take"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esbuild_and_typescript_plugins_become_compile() {
        let doc: Value = serde_norway::from_str(
            "plugins: [serverless-esbuild]\ncustom:\n  esbuild:\n    bundle: true\n    minify: false\n    sourcemap: true\n    exclude: [aws-sdk]\n    target: node20\n    define: {a: b}\n",
        )
        .unwrap();
        let mut r = Report::default();
        let t = compile(&doc, &mut r).unwrap();
        assert_eq!(
            t.to_string(),
            "{ tool = \"esbuild\", bundle = true, minify = false, sourcemap = true, target = \"node20\" }"
        );
        assert_eq!(r.unsupported_count(), 1, "{r}");
        let doc: Value = serde_norway::from_str(
            "plugins: {modules: [serverless-plugin-typescript]}\ncustom: {serverlessPluginTypescript: {tsConfigFileLocation: ./tsconfig.build.json}}\n",
        )
        .unwrap();
        let t = compile(&doc, &mut Report::default()).unwrap();
        assert_eq!(
            t.to_string(),
            "{ tool = \"tsc\", tsconfig = \"tsconfig.build.json\" }"
        );
        assert_eq!(exclude_line("patterns", "!secrets/**"), "/secrets/**");
        assert_eq!(
            exclude_line("patterns", "secrets/public.txt"),
            "!/secrets/public.txt"
        );
        assert_eq!(exclude_line("exclude", "**/*.md"), "**/*.md");
        assert_eq!(exclude_line("include", "./keep.txt"), "!/keep.txt");
        let none: Value = serde_norway::from_str("plugins: [serverless-offline]").unwrap();
        assert!(compile(&none, &mut Report::default()).is_none());
    }
}
