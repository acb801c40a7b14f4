//! `ondol serve --print-config`: every setting as a line of TOML, with where its
//! value came from (flag, env NAME, config FILE, default). Secrets are masked and
//! commented out, so the output can start a config file.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches};

use super::file::{is_secret, key_name};
use super::Sources;

/// The whole printout.
pub fn render(src: &Sources, top: &ArgMatches) -> String {
    let m = serve_matches(top);
    let mut out = match &src.file {
        Some(f) => format!(
            "# ondol serve: effective configuration; config file {} (from {})\n",
            f.path.display(),
            f.named_by
        ),
        None => format!(
            "# ondol serve: effective configuration; no config file (--config, ONDOL_CONFIG or {})\n",
            super::DEFAULT_FILE
        ),
    };
    let mut args: Vec<&Arg> = src.cmd.get_arguments().filter(|a| is_setting(a)).collect();
    // The data dir first, as in --help (setting its default moved it last).
    args.sort_by_key(|a| a.get_id() != "data_dir");
    let width = args.iter().map(|a| key(a).len()).max().unwrap_or(0);
    for arg in args {
        let id = arg.get_id().as_str();
        let source = source_of(src, top, id);
        let line = match value(arg, m) {
            None => format!("# {:width$} (unset)", key(arg)),
            Some(_) if is_secret(arg) => format!("# {:width$} = \"********\"", key(arg)),
            Some(v) => format!("{:width$} = {v}", key(arg)),
        };
        out.push_str(&format!("{line:<w2$}  # {source}\n", w2 = width + 30));
    }
    out
}

fn serve_matches(top: &ArgMatches) -> &ArgMatches {
    top.subcommand_matches(super::SUBCOMMAND)
        .expect("print is only for serve")
}

fn is_setting(a: &Arg) -> bool {
    let id = a.get_id().as_str();
    a.get_long().is_some() && !["help", "version", super::CONFIG_ID, super::PRINT_ID].contains(&id)
}

fn key(a: &Arg) -> String {
    key_name(a.get_long().unwrap_or_default())
}

/// Where the value of `id` came from, in words.
pub fn source_of(src: &Sources, top: &ArgMatches, id: &str) -> String {
    let m = serve_matches(top);
    let arg = src.cmd.get_arguments().find(|a| a.get_id() == id);
    if src.from_file.iter().any(|f| f == id) {
        let f = src.file.as_ref().expect("a value from a file");
        let s = f.settings.iter().find(|s| s.id == id);
        return match s.and_then(|s| s.secret_file.as_ref().map(|p| (s, p))) {
            Some((s, p)) => format!("config {} ({} = {})", f.path.display(), s.key, p.display()),
            None => format!("config {}", f.path.display()),
        };
    }
    match m.value_source(id) {
        Some(ValueSource::CommandLine) => {
            format!("flag --{}", arg.and_then(|a| a.get_long()).unwrap_or(id))
        }
        Some(ValueSource::EnvVariable) => format!(
            "env {}",
            arg.and_then(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        Some(ValueSource::DefaultValue) if id == "data_dir" => {
            format!("default ({})", src.data_dir.why)
        }
        Some(ValueSource::DefaultValue) => "default".into(),
        _ => "default: unset".into(),
    }
}

/// The value as TOML: numbers and booleans bare, the rest quoted, repeatable
/// flags as arrays.
fn value(arg: &Arg, m: &ArgMatches) -> Option<String> {
    let raw: Vec<String> = m
        .get_raw(arg.get_id().as_str())?
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let bare = is_number_or_bool(arg);
    let one = |v: &str| {
        if bare {
            v.to_string()
        } else {
            toml::Value::String(v.to_string()).to_string()
        }
    };
    match arg.get_action() {
        ArgAction::Append => Some(format!(
            "[{}]",
            raw.iter().map(|v| one(v)).collect::<Vec<_>>().join(", ")
        )),
        _ => raw.first().map(|v| one(v)),
    }
}

/// Whether the flag's values are TOML numbers or booleans (else strings: an account
/// id such as 000000000000 must keep its zeros).
fn is_number_or_bool(arg: &Arg) -> bool {
    use std::any::TypeId;
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        return true;
    }
    let t = arg.get_value_parser().type_id();
    [
        TypeId::of::<u64>(),
        TypeId::of::<u32>(),
        TypeId::of::<usize>(),
        TypeId::of::<i64>(),
        TypeId::of::<f64>(),
        TypeId::of::<bool>(),
    ]
    .iter()
    .any(|i| t == *i)
}
