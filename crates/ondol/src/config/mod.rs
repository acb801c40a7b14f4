//! `ondol serve`'s configuration file (`--config FILE`, `ONDOL_CONFIG`, else
//! `/etc/ondol/ondol.toml` when it exists). Its keys are serve's long flag names,
//! so a flag added later needs no code here. Its values are handed to clap as if
//! typed, unless the flag or its environment variable is set: flag > env > file >
//! built-in default, and clap keeps every check it makes on a flag.

mod file;
mod print;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{Arg, ArgAction, ArgMatches, Command};

pub use file::Loaded;

/// The file read when neither `--config` nor `ONDOL_CONFIG` names one.
pub const DEFAULT_FILE: &str = "/etc/ondol/ondol.toml";
const SUBCOMMAND: &str = "serve";
const CONFIG_ID: &str = "config";
const PRINT_ID: &str = "print_config";

/// What was parsed, and for `serve`, where its settings came from.
pub struct Parsed {
    pub matches: ArgMatches,
    pub serve: Option<Sources>,
}

/// Where `serve`'s settings came from: what `--print-config` and the start-up log say.
pub struct Sources {
    cmd: Command,
    file: Option<Loaded>,
    /// The ids whose value the file gave.
    from_file: Vec<String>,
    data_dir: crate::datadir::DefaultDir,
}

/// Parses the command line, with `serve`'s config file applied.
pub fn parse(cmd: Command) -> Result<Parsed> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let data_dir = crate::datadir::default_dir();
    // clap keeps `&'static str` defaults; this one string lives as long as the process.
    let default_dir: &'static str = Box::leak(
        data_dir
            .path
            .to_string_lossy()
            .into_owned()
            .into_boxed_str(),
    );
    let mut cmd = cmd.mut_subcommand(SUBCOMMAND, |s| {
        s.arg(
            Arg::new(CONFIG_ID)
                .long("config")
                .env("ONDOL_CONFIG")
                .value_name("FILE")
                .help("Read settings from this TOML file (default /etc/ondol/ondol.toml when it exists); flags and env override it"),
        )
        .arg(
            Arg::new(PRINT_ID)
                .long("print-config")
                .action(ArgAction::SetTrue)
                .help("Print every setting, its value and where it came from, then exit"),
        )
        .mut_arg("data_dir", |a| a.default_value(default_dir))
    });
    // Built first: the flags' actions and parsers are then final.
    cmd.build();
    let is_serve = args.get(1).is_some_and(|a| a == SUBCOMMAND);
    let (mut file, mut from_file) = (None, Vec::new());
    if is_serve {
        let serve = cmd.find_subcommand(SUBCOMMAND).expect("serve subcommand");
        if let Some((path, named_by)) = locate(&args)? {
            let loaded = file::load(&path, named_by, serve)?;
            from_file = inject(&mut args, serve, &loaded);
            file = Some(loaded);
        }
    }
    let serve_cmd = cmd.find_subcommand(SUBCOMMAND).cloned();
    let matches = cmd.try_get_matches_from(args).unwrap_or_else(|e| e.exit());
    let serve = is_serve.then(|| Sources {
        cmd: serve_cmd.expect("serve subcommand"),
        file,
        from_file,
        data_dir,
    });
    Ok(Parsed { matches, serve })
}

/// The config file to read and what named it, if any.
fn locate(args: &[OsString]) -> Result<Option<(PathBuf, &'static str)>> {
    let mut it = args.iter().skip(2);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            match it.next() {
                Some(v) => return must_exist(PathBuf::from(v), "--config").map(Some),
                None => bail!("--config needs a FILE"),
            }
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return must_exist(PathBuf::from(v), "--config").map(Some);
        }
    }
    if let Some(v) = std::env::var_os("ONDOL_CONFIG").filter(|v| !v.is_empty()) {
        return must_exist(PathBuf::from(v), "ONDOL_CONFIG").map(Some);
    }
    let default = Path::new(DEFAULT_FILE);
    Ok(default
        .is_file()
        .then(|| (default.to_path_buf(), "the default path")))
}

fn must_exist(path: PathBuf, named_by: &'static str) -> Result<(PathBuf, &'static str)> {
    if !path.is_file() {
        bail!(
            "the config file {} (from {named_by}) does not exist or is not a file",
            path.display()
        );
    }
    Ok((path, named_by))
}

/// Whether the flag is on the command line or its environment variable is set:
/// then the file's value is not used.
fn explicit(args: &[OsString], arg: &Arg) -> bool {
    let long = arg.get_long().unwrap_or_default();
    let (bare, eq) = (format!("--{long}"), format!("--{long}="));
    let typed = args.iter().skip(2).any(|a| {
        let a = a.to_string_lossy();
        a == bare || a.starts_with(&eq)
    });
    typed || arg.get_env().is_some_and(|e| std::env::var_os(e).is_some())
}

/// Appends the file's settings to the arguments, as `--flag=value`, for each flag
/// neither typed nor set in the environment. Kept in this process only: `ps`
/// never shows them. Returns the ids set this way.
fn inject(args: &mut Vec<OsString>, serve: &Command, loaded: &Loaded) -> Vec<String> {
    let (mut extra, mut ids) = (Vec::new(), Vec::new());
    for s in &loaded.settings {
        let Some(arg) = serve.get_arguments().find(|a| a.get_id() == s.id.as_str()) else {
            continue;
        };
        if explicit(args, arg) {
            continue;
        }
        let long = arg.get_long().unwrap_or_default();
        ids.push(s.id.clone());
        for v in &s.values {
            if matches!(arg.get_action(), ArgAction::SetTrue) {
                if v == "true" {
                    extra.push(OsString::from(format!("--{long}")));
                }
            } else {
                extra.push(OsString::from(format!("--{long}={v}")));
            }
        }
    }
    args.extend(extra);
    ids
}

impl Sources {
    /// `--print-config`: every setting with its value and source, secrets masked.
    pub fn print(&self, matches: &ArgMatches) -> String {
        print::render(self, matches)
    }

    /// The start-up log lines: which config file, and the data dir and why.
    pub fn announce(&self, matches: &ArgMatches, data_dir: &Path) {
        if let Some(f) = &self.file {
            tracing::info!(config = %f.path.display(), from = f.named_by, "configuration file read");
        }
        let from = print::source_of(self, matches, "data_dir");
        tracing::info!(data_dir = %data_dir.display(), from = %from, "data dir");
    }
}
