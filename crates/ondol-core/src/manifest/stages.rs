//! `[stages.NAME]` resolved: names usable as a path segment and an alias, hosts
//! claimed by one stage only, and every function's configuration in each stage
//! checked as it will be deployed.

use std::collections::BTreeMap;

use super::{
    check_host, DeployedFunction, ManifestError, Stage, StageDef, Strategy, DEFAULT_STAGE,
};
use crate::config::{environment, FunctionConfig};
use crate::name::valid_name;

/// Checks `[stages.NAME]`: names usable as a path segment and an alias, hosts
/// claimed by one stage only.
pub(super) fn resolve_stages(
    defs: BTreeMap<String, StageDef>,
    functions: &[DeployedFunction],
    file: &str,
) -> Result<BTreeMap<String, Stage>, ManifestError> {
    let mut out = BTreeMap::new();
    let mut hosts: BTreeMap<String, String> = BTreeMap::new();
    for (name, sd) in defs {
        let err = |k: &str, message: String| ManifestError {
            file: file.to_string(),
            key: if k.is_empty() {
                format!("stages.{name}")
            } else {
                format!("stages.{name}.{k}")
            },
            message,
        };
        if name != DEFAULT_STAGE {
            check_stage_name(&name).map_err(|m| err("", m))?;
        } else if !sd.hosts.is_empty() {
            return Err(err(
                "hosts",
                "the $default stage is served at the root of every host; give hosts to a named stage".into(),
            ));
        }
        for h in &sd.hosts {
            let h = h.trim().to_ascii_lowercase();
            check_host(&h).map_err(|m| err("hosts", m))?;
            if let Some(other) = hosts.insert(h.clone(), name.clone()) {
                return Err(err(
                    "hosts",
                    format!("host \"{h}\" is already served by stage {other}"),
                ));
            }
        }
        let strategy = match &sd.strategy {
            None => None,
            Some(st) => Some(Strategy::parse(st).map_err(|m| err("strategy", m))?),
        };
        let rollback = match &sd.rollback {
            None => None,
            Some(r) => Some(
                r.resolve()
                    .map_err(|(k, m)| err(&format!("rollback.{k}"), m))?,
            ),
        };
        if let Some(key) = sd
            .functions
            .keys()
            .find(|k| !functions.iter().any(|f| &&f.key == k))
        {
            return Err(err(
                &format!("functions.{key}"),
                "expected one of the functions defined in this file".into(),
            ));
        }
        environment::check(&sd.environment).map_err(|m| err("environment", m))?;
        for f in functions {
            stage_config(f, &sd).map_err(|(k, m)| err(&k, m))?;
        }
        out.insert(
            name,
            Stage {
                hosts: sd
                    .hosts
                    .iter()
                    .map(|h| h.trim().to_ascii_lowercase())
                    .collect(),
                environment: sd.environment,
                variables: sd.variables,
                strategy,
                rollback,
                functions: sd.functions,
            },
        );
    }
    Ok(out)
}

/// A function's configuration in a stage (the stage's environment and its own
/// settings over the function's), checked; an error names the stage's key.
fn stage_config(f: &DeployedFunction, sd: &StageDef) -> Result<FunctionConfig, (String, String)> {
    let mut cfg = f.config.clone();
    for (k, v) in &sd.environment {
        cfg.environment.insert(k.clone(), v.clone());
    }
    let own = sd.functions.get(&f.key);
    if let Some(o) = own {
        environment::check(&o.environment)
            .map_err(|m| (format!("functions.{}.environment", f.key), m))?;
        o.apply(&mut cfg);
    }
    cfg.validate().map_err(|m| {
        let k = match own {
            Some(_) => format!("functions.{}", f.key),
            None => "environment".to_string(),
        };
        (k, format!("{m} (function {} in this stage)", f.key))
    })?;
    Ok(cfg)
}

/// A stage name is a path segment and an alias name: `[a-zA-Z0-9-_]`, not all
/// digits, not `live` (the `$default` stage's alias).
pub fn check_stage_name(name: &str) -> Result<(), String> {
    if !valid_name(name) || name.len() > 32 || name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected a stage name of 1 to 32 characters of [a-zA-Z0-9-_], not all digits, got \"{name}\""));
    }
    if name == "live" {
        return Err("\"live\" is the $default stage's alias; choose another stage name".into());
    }
    Ok(())
}
