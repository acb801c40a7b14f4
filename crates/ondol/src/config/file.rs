//! Reading a config file: TOML whose keys are `serve`'s long flag names
//! (`memory_budget_mb`, or `memory-budget-mb`), tables only grouping (`[async]
//! max_payload` is `async_max_payload`), arrays for repeatable flags, and a secret
//! either inline in a file only its owner can read or in `<key>_file`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, Command};
use toml::Value;

/// The settings a file gives, each already checked by its flag's own parser.
pub struct Loaded {
    pub path: PathBuf,
    /// `--config`, `ONDOL_CONFIG` or the default path.
    pub named_by: &'static str,
    pub settings: Vec<Setting>,
}

/// One key of the file.
pub struct Setting {
    /// The clap id of the flag it sets.
    pub id: String,
    /// The key as written (dotted when in a table).
    pub key: String,
    pub values: Vec<String>,
    /// For `<secret>_file`: the file the secret was read from.
    pub secret_file: Option<PathBuf>,
}

/// Ids that are not settings: the file cannot set itself or ask to be printed.
const NOT_SETTINGS: [&str; 4] = ["help", "version", super::CONFIG_ID, super::PRINT_ID];

/// A secret's flag: clap hides its environment value.
pub fn is_secret(arg: &Arg) -> bool {
    arg.is_hide_env_values_set()
}

/// The settings: every flag of `serve` with a long name, by its key spelling.
fn keys(serve: &Command) -> BTreeMap<String, &Arg> {
    let mut keys = BTreeMap::new();
    for arg in serve.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if NOT_SETTINGS.contains(&arg.get_id().as_str()) {
            continue;
        }
        keys.insert(key_name(long), arg);
        keys.insert(key_name(arg.get_id().as_str()), arg);
    }
    keys
}

/// How a key is written in the file: the long flag with underscores.
pub fn key_name(flag: &str) -> String {
    flag.replace('-', "_")
}

/// Reads and checks `path` against `serve`'s flags.
pub fn load(path: &Path, named_by: &'static str, serve: &Command) -> Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end())
    })?;
    let keys = keys(serve);
    let mut flat = Vec::new();
    flatten(&table, "", &mut flat);
    let mut settings = Vec::new();
    let mut inline_secrets = Vec::new();
    for (key, value) in flat {
        let name = key.replace(['.', '-'], "_");
        let s = if let Some(arg) = keys.get(&name) {
            if is_secret(arg) {
                inline_secrets.push(key.clone());
            }
            let values = values(path, &key, arg, value)?;
            setting(arg, key, values, None)
        } else if let Some(arg) = name
            .strip_suffix("_file")
            .and_then(|n| keys.get(n))
            .filter(|a| is_secret(a))
        {
            let file = PathBuf::from(string(path, &key, value)?);
            let secret = read_secret(path, &key, &file)?;
            setting(arg, key, vec![secret], Some(file))
        } else {
            bail!("{}", unknown(path, &key, &name, &keys));
        };
        if settings.iter().any(|o: &Setting| o.id == s.id) {
            bail!(
                "{}: {} sets --{} a second time",
                path.display(),
                s.key,
                flag(&keys, &s.id)
            );
        }
        settings.push(s);
    }
    if !inline_secrets.is_empty() {
        refuse_if_readable(
            path,
            &format!("holds the secret {}", inline_secrets.join(", ")),
        )?;
    }
    Ok(Loaded {
        path: path.to_path_buf(),
        named_by,
        settings,
    })
}

fn setting(arg: &Arg, key: String, values: Vec<String>, secret_file: Option<PathBuf>) -> Setting {
    Setting {
        id: arg.get_id().to_string(),
        key,
        values,
        secret_file,
    }
}

fn flag(keys: &BTreeMap<String, &Arg>, id: &str) -> String {
    keys.values()
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_long())
        .unwrap_or(id)
        .to_string()
}

/// Tables group keys: `[a] b = 1` and `a.b = 1` are the key `a_b`.
fn flatten<'a>(table: &'a toml::Table, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(t) => flatten(t, &key, out),
            v => out.push((key, v)),
        }
    }
}

/// "unknown key", with the closest valid one.
fn unknown(path: &Path, key: &str, name: &str, keys: &BTreeMap<String, &Arg>) -> String {
    let near = keys
        .keys()
        .filter(|k| keys[*k].get_long().is_some_and(|l| key_name(l) == **k))
        .map(|k| (strsim::levenshtein(name, k), k))
        .min();
    let hint = match near {
        Some((d, k)) if d <= name.len().max(3) / 2 + 1 => format!("; did you mean {k}?"),
        _ => String::new(),
    };
    format!(
        "{}: unknown key {key}{hint} (the keys are `ondol serve`'s flags with underscores; `ondol serve --print-config` lists them)",
        path.display()
    )
}

/// A value as the strings clap would get on the command line, checked by the
/// flag's own parser so that a bad one names the file and the key.
fn values(path: &Path, key: &str, arg: &Arg, value: &Value) -> Result<Vec<String>> {
    let here = || format!("{}: {key}", path.display());
    let raw = match (arg.get_action(), value) {
        (ArgAction::SetTrue | ArgAction::SetFalse, Value::Boolean(b)) => {
            return Ok(vec![b.to_string()])
        }
        (ArgAction::SetTrue | ArgAction::SetFalse, v) => {
            bail!(
                "{}: expected a boolean (true or false), got {}",
                here(),
                kind(v)
            )
        }
        (ArgAction::Append, Value::Array(items)) => items
            .iter()
            .map(|v| {
                scalar(v).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: expected an array of {}, got an array holding {}",
                        here(),
                        expected(arg),
                        kind(v)
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?,
        (_, Value::Array(_)) => bail!(
            "{}: expected {}, got an array (only repeatable flags take one)",
            here(),
            expected(arg)
        ),
        (_, v) if is_text(arg) && !v.is_str() => {
            bail!("{}: expected a string, got {}", here(), kind(v))
        }
        (_, v) => vec![scalar(v).expect("tables are flattened, arrays handled")],
    };
    for v in &raw {
        if let Err(e) = probe(arg, v) {
            let why = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.kind().to_string());
            bail!("{}: expected {}, got {v:?} ({why})", here(), expected(arg));
        }
    }
    Ok(raw)
}

/// Parses `--flag=v` with the flag alone (its links to other flags dropped), so its
/// own value parser judges the value.
fn probe(arg: &Arg, v: &str) -> Result<(), clap::Error> {
    use clap::builder::Resettable;
    let alone = arg
        .clone()
        .requires(Resettable::Reset)
        .conflicts_with(Resettable::Reset)
        .env(None::<&'static str>);
    let long = arg.get_long().unwrap_or_default();
    Command::new("probe")
        .no_binary_name(true)
        .arg(alone)
        .try_get_matches_from([format!("--{long}={v}")])
        .map(|_| ())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Datetime(d) => Some(d.to_string()),
        Value::Array(_) | Value::Table(_) => None,
    }
}

fn string<'a>(path: &Path, key: &str, v: &'a Value) -> Result<&'a str> {
    v.as_str().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: {key}: expected a file path (string), got {}",
            path.display(),
            kind(v)
        )
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// What the flag takes, in words, from the type its parser yields.
fn expected(arg: &Arg) -> String {
    use std::any::TypeId;
    let t = arg.get_value_parser().type_id();
    let what = if [
        TypeId::of::<u64>(),
        TypeId::of::<u32>(),
        TypeId::of::<usize>(),
    ]
    .iter()
    .any(|i| t == *i)
    {
        "an integer"
    } else if t == TypeId::of::<f64>() {
        "a number"
    } else if t == TypeId::of::<std::time::Duration>() {
        "a duration (\"10s\", \"2m\")"
    } else if t == TypeId::of::<std::net::SocketAddr>() {
        "an address (\"127.0.0.1:9000\")"
    } else {
        let name = arg
            .get_value_names()
            .and_then(|n| n.first())
            .map(|n| n.to_string());
        let long = arg.get_long().unwrap_or_default();
        return match name {
            Some(name) => format!("a value for --{long} ({name})"),
            None => format!("a value for --{long}"),
        };
    };
    what.to_string()
}

/// Whether the flag takes free text or a path: then the file must give a string
/// (`region = 5` is a mistake, not "5").
fn is_text(arg: &Arg) -> bool {
    use std::any::TypeId;
    let t = arg.get_value_parser().type_id();
    t == TypeId::of::<String>() || t == TypeId::of::<PathBuf>()
}

/// A secret in `<key>_file`: the file's first line, refused when others can read it.
fn read_secret(config: &Path, key: &str, file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: {key}: reading {}", config.display(), file.display()))?;
    refuse_if_readable(
        file,
        &format!("is a secret ({} in {})", key, config.display()),
    )?;
    let secret = text.lines().next().unwrap_or_default().to_string();
    if secret.trim().is_empty() {
        bail!("{}: {key}: {} is empty", config.display(), file.display());
    }
    Ok(secret)
}

/// A file holding a secret must be its owner's alone (mode & 0o077 == 0).
fn refuse_if_readable(path: &Path, what: &str) -> Result<()> {
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading the mode of {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} {what} but others can read it (mode {:o}): run chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Arg;

    fn serve() -> Command {
        let mut c = Command::new("serve")
            .arg(
                Arg::new("memory_budget_mb")
                    .long("memory-budget-mb")
                    .value_parser(clap::value_parser!(u64)),
            )
            .arg(
                Arg::new("runtimes")
                    .long("runtime")
                    .action(ArgAction::Append),
            )
            .arg(
                Arg::new("no_cgroups")
                    .long("no-cgroups")
                    .action(ArgAction::SetTrue),
            )
            .arg(
                Arg::new("secret")
                    .long("secret")
                    .env("S")
                    .hide_env_values(true),
            );
        c.build();
        c
    }

    fn load_text(text: &str, mode: u32) -> Result<Loaded> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        load(&p, "--config", &serve())
    }

    #[test]
    fn keys_tables_and_arrays_map_to_flags() {
        let l = load_text(
            "memory-budget-mb = 5\nruntime = ['a=b', 'c=d']\n[no]\ncgroups = true\n",
            0o644,
        )
        .unwrap();
        let got: Vec<_> = l
            .settings
            .iter()
            .map(|s| (s.id.as_str(), s.values.join("|")))
            .collect();
        assert_eq!(
            got,
            [
                ("memory_budget_mb", "5".into()),
                ("no_cgroups", "true".into()),
                ("runtimes", "a=b|c=d".into())
            ]
        );
    }

    #[test]
    fn errors_name_the_key_and_what_was_expected() {
        let e = load_text("memory_budgt_mb = 5\n", 0o600)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.contains("unknown key memory_budgt_mb; did you mean memory_budget_mb?"),
            "{e}"
        );
        let e = load_text("memory_budget_mb = 'x'\n", 0o600)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.contains("memory_budget_mb: expected an integer, got \"x\""),
            "{e}"
        );
        let e = load_text("secret = 'x'\n", 0o640)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.contains("holds the secret secret") && e.contains("mode 640"),
            "{e}"
        );
        assert!(load_text("secret = 'x'\n", 0o600).is_ok());
    }
}
