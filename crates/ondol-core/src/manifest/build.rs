//! How a function's code is built before it is packaged, beyond its declared
//! dependencies: `compile` (TypeScript compiled by the project's own `tsc` or
//! bundled by its own `esbuild`) and `exclude` (gitignore-style lines applied
//! after `.ondolignore`, so an importer can carry a tool's package patterns).

use serde::Deserialize;

/// `compile = { tool = "tsc" | "esbuild", ... }`: compiled at deploy into a build
/// directory outside the project; the output keeps the source's path with `.js`,
/// so `handler = "src/handler.main"` runs the compiled `src/handler.js`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "tool", rename_all = "lowercase", deny_unknown_fields)]
pub enum Compile {
    /// `node_modules/.bin/tsc -p <tsconfig>`, emitting beside nothing of the project.
    Tsc {
        /// The project file, relative to the code directory (default `tsconfig.json`).
        tsconfig: Option<String>,
    },
    /// `node_modules/.bin/esbuild` on the handler's file (or `entry`).
    Esbuild {
        /// The entry file, relative to the code directory (default: the handler's
        /// module with `.ts`, `.tsx`, `.mts` or `.js`).
        entry: Option<String>,
        /// Bundle imports into one file (default true; node_modules is then not shipped
        /// unless `external` names packages).
        bundle: Option<bool>,
        /// Minify the output (default false).
        #[serde(default)]
        minify: bool,
        /// Write a source map beside it (default false).
        #[serde(default)]
        sourcemap: bool,
        /// esbuild's `--target` (default `node<N>` of the runtime).
        target: Option<String>,
        /// Packages left out of the bundle and shipped in node_modules (default none).
        #[serde(default)]
        external: Vec<String>,
    },
}

impl Compile {
    /// The compiler's name, as errors and progress lines say it.
    pub fn tool(&self) -> &'static str {
        match self {
            Compile::Tsc { .. } => "tsc",
            Compile::Esbuild { .. } => "esbuild",
        }
    }

    /// Whether the output carries its imports (so node_modules need not ship).
    pub fn bundles_everything(&self) -> bool {
        match self {
            Compile::Tsc { .. } => false,
            Compile::Esbuild {
                bundle, external, ..
            } => bundle.unwrap_or(true) && external.is_empty(),
        }
    }

    /// Checks paths stay inside the code directory; `(key, message)` on error.
    pub(super) fn check(&self, runtime: &str) -> Result<(), (String, String)> {
        if !runtime.starts_with("nodejs") {
            return Err((
                "compile".into(),
                format!("compiles TypeScript for a nodejs runtime, not \"{runtime}\""),
            ));
        }
        let (key, path) = match self {
            Compile::Tsc { tsconfig } => ("compile.tsconfig", tsconfig),
            Compile::Esbuild { entry, .. } => ("compile.entry", entry),
        };
        match path {
            Some(p) if !inside(p) => Err((
                key.into(),
                format!("expected a file inside the code directory, got \"{p}\""),
            )),
            _ => Ok(()),
        }
    }
}

/// Whether `p` is a relative path that stays inside its base.
fn inside(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|c| c == "..")
}

/// Checks `exclude` lines (gitignore syntax, `!` re-includes).
pub(super) fn check_exclude(lines: &[String]) -> Result<(), String> {
    for l in lines {
        if l.contains('\n') || l.trim().is_empty() {
            return Err(format!(
                "expected one non-empty gitignore pattern per entry, got {l:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_tool_and_refuses_unknown_options() {
        #[derive(Deserialize)]
        struct F {
            compile: Compile,
        }
        let f: F =
            toml::from_str("compile = { tool = \"esbuild\", minify = true, external = [\"pg\"] }")
                .unwrap();
        assert!(!f.compile.bundles_everything());
        assert_eq!(f.compile.tool(), "esbuild");
        let f: F = toml::from_str("compile = { tool = \"tsc\" }").unwrap();
        assert_eq!(f.compile, Compile::Tsc { tsconfig: None });
        assert!(toml::from_str::<F>("compile = { tool = \"tsc\", minify = true }").is_err());
        assert!(toml::from_str::<F>("compile = { tool = \"babel\" }").is_err());
        let bad = Compile::Tsc {
            tsconfig: Some("../x.json".into()),
        };
        assert!(bad.check("nodejs20.x").is_err());
        assert!(f.compile.check("python3.11").is_err());
        assert!(f.compile.check("nodejs20.x").is_ok());
    }
}
