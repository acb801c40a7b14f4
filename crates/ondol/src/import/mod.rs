//! Projects described for another deployment tool (a Serverless Framework
//! `serverless.yml`, a SAM `template.yaml`, a Zappa `zappa_settings.json`), read as
//! ondol reads its own manifest: each importer writes the equivalent `ondol.toml`
//! text, commented with where each part came from, and a report of every key it
//! mapped or could not. `ondol deploy` loads that text like a written manifest;
//! `ondol import` saves it.

use std::path::{Path, PathBuf};

use anyhow::Result;

mod auth;
pub mod report;
mod sam;
mod serverless;
mod zappa;

pub use report::Report;

/// A tool whose project description ondol can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Serverless,
    Sam,
    Zappa,
}

impl Tool {
    /// The file that describes the project, in the order tried.
    pub const ALL: [(Tool, &'static str); 4] = [
        (Tool::Serverless, "serverless.yml"),
        (Tool::Serverless, "serverless.yaml"),
        (Tool::Sam, "template.yaml"),
        (Tool::Zappa, "zappa_settings.json"),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Serverless => "the Serverless Framework",
            Tool::Sam => "AWS SAM",
            Tool::Zappa => "Zappa",
        }
    }
}

/// The description file of another tool in `dir`, if there is one.
pub fn detect(dir: &Path) -> Option<(Tool, PathBuf)> {
    Tool::ALL
        .iter()
        .map(|(t, f)| (*t, dir.join(f)))
        .find(|(_, p)| p.is_file())
}

/// An imported project: the `ondol.toml` it amounts to and what was made of each key.
pub struct Imported {
    /// The equivalent manifest, with comments naming where each part came from.
    pub manifest: String,
    pub report: Report,
}

/// Reads the project in `dir` with `tool`'s importer. `stage` is the tool's stage
/// (Serverless `--stage`, a SAM config environment, a Zappa stage); `None` takes the
/// tool's own default.
pub fn import(tool: Tool, source: &Path, stage: Option<&str>) -> Result<Imported> {
    match tool {
        Tool::Serverless => serverless::import(source, stage),
        Tool::Sam => sam::import(source, stage),
        Tool::Zappa => zappa::import(source, stage),
    }
}

/// The project directory's own name (the app's name when the file gives none).
pub(crate) fn dir_name(dir: &Path) -> Option<String> {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// `s` as a TOML string (quoted and escaped).
pub(crate) fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
