//! `samconfig.toml`: the environment's (`[default]`, `[prod]`...) stack name and
//! `parameter_overrides`, as `sam deploy --config-env` reads them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use crate::import::Report;

/// What one samconfig environment sets for an import.
#[derive(Debug, Default)]
pub struct Config {
    pub stack_name: Option<String>,
    pub overrides: BTreeMap<String, String>,
}

/// Reads `dir/samconfig.toml`'s environment `env` (none: the defaults).
pub fn read(dir: &Path, env: &str, report: &mut Report) -> Result<Config> {
    let path = dir.join("samconfig.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        if dir.join("samconfig.yaml").is_file() || dir.join("samconfig.yml").is_file() {
            report.unsupported("samconfig.yaml", "only samconfig.toml is read");
        }
        return Ok(Config::default());
    };
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: not TOML", path.display()))?;
    let Some(e) = doc.get(env).and_then(|e| e.as_table()) else {
        if env != "default" {
            report.unsupported(
                format!("samconfig.toml [{env}]"),
                "no such environment: the template's defaults are used",
            );
        }
        return Ok(Config::default());
    };
    for cmd in e
        .keys()
        .filter(|k| !matches!(k.as_str(), "global" | "deploy"))
    {
        report.unsupported(
            format!("samconfig.toml {env}.{cmd}"),
            format!(
                "`sam {}` settings: ondol builds, serves and syncs itself",
                cmd.replace('_', " ")
            ),
        );
    }
    let mut c = Config::default();
    // `sam deploy` reads `deploy.parameters`, falling back to `global.parameters`.
    for cmd in ["global", "deploy"] {
        let Some(p) = e
            .get(cmd)
            .and_then(|c| c.get("parameters"))
            .and_then(|p| p.as_table())
        else {
            continue;
        };
        for (k, v) in p {
            let key = format!("samconfig.toml {env}.{cmd}.parameters.{k}");
            match k.as_str() {
                "stack_name" => {
                    c.stack_name = v.as_str().map(String::from);
                    report.mapped(key, "app (the stack's name)");
                }
                "parameter_overrides" => {
                    let pairs = match v {
                        toml::Value::String(s) => overrides(s),
                        toml::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).flat_map(overrides).collect(),
                        _ => vec![],
                    };
                    c.overrides.extend(pairs);
                    report.mapped(key, "the template's parameter values");
                }
                _ => report.unsupported(key, "a setting of sam's own (S3 bucket, capabilities, region...) with no ondol equivalent"),
            }
        }
    }
    Ok(c)
}

/// `Key=Value Key2="two words"` (or `ParameterKey=K,ParameterValue=V`) as pairs.
pub fn overrides(s: &str) -> Vec<(String, String)> {
    let mut tokens = Vec::new();
    let (mut cur, mut quote) = (String::new(), None);
    for ch in s.chars() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
        .iter()
        .filter_map(|t| {
            if let Some(rest) = t.strip_prefix("ParameterKey=") {
                let (k, v) = rest.split_once(",ParameterValue=")?;
                return Some((k.to_string(), v.to_string()));
            }
            let (k, v) = t.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_split_like_sam() {
        let p = overrides(r#"Stage=prod Greeting="hello world" ParameterKey=A,ParameterValue=b"#);
        assert_eq!(
            p,
            vec![
                ("Stage".into(), "prod".into()),
                ("Greeting".into(), "hello world".into()),
                ("A".into(), "b".into())
            ]
        );
    }
}
