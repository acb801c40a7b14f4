//! What a version's layers add to an instance's environment, as in Lambda: the
//! merged layers are at `/opt` (in the sandbox; the merged directory itself
//! without one) and Python's, Node's, the shell's and the loader's search paths
//! look there after the function's own code.

use std::path::Path;

use ondol_core::{FunctionConfig, RuntimeKind};

use crate::runtimes::Launch;

/// Where a sandboxed instance sees its layers.
pub(crate) const OPT: &str = "/opt";

/// Adds `opt`'s paths to `launch`'s environment for `cfg`'s runtime.
pub(crate) fn extend(launch: &mut Launch, cfg: &FunctionConfig, opt: &Path) {
    let opt = opt.display().to_string();
    let env = &mut launch.env;
    match cfg.runtime_kind() {
        Some(RuntimeKind::Python) => {
            // `/var/task` first, then the layers, then the runtime's own paths.
            let mut ours = Vec::new();
            if let Some(v) = cfg
                .runtime
                .strip_prefix("python")
                .filter(|v| v.contains('.'))
            {
                ours.push(format!("{opt}/python/lib/python{v}/site-packages"));
            }
            ours.push(format!("{opt}/python"));
            let current = get(env, "PYTHONPATH").unwrap_or_default();
            let mut parts: Vec<&str> = current.split(':').filter(|p| !p.is_empty()).collect();
            let at = parts.len().min(1);
            parts.splice(at..at, ours.iter().map(String::as_str));
            set(env, "PYTHONPATH", parts.join(":"));
        }
        Some(RuntimeKind::Node) => {
            let mut ours = Vec::new();
            if let Some(n) = cfg
                .runtime
                .strip_prefix("nodejs")
                .and_then(|v| v.strip_suffix(".x"))
            {
                ours.push(format!("{opt}/nodejs/node{n}/node_modules"));
            }
            ours.push(format!("{opt}/nodejs/node_modules"));
            append(env, "NODE_PATH", &ours.join(":"));
        }
        _ => {}
    }
    append(env, "PATH", &format!("{opt}/bin"));
    append(env, "LD_LIBRARY_PATH", &format!("{opt}/lib"));
}

fn get(env: &[(String, String)], key: &str) -> Option<String> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn set(env: &mut Vec<(String, String)>, key: &str, value: String) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value));
}

/// `key`'s list with `more` at its end (or just `more`).
fn append(env: &mut Vec<(String, String)>, key: &str, more: &str) {
    let value = match get(env, key).filter(|v| !v.is_empty()) {
        Some(v) => format!("{v}:{more}"),
        None => more.to_string(),
    };
    set(env, key, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(runtime: &str, env: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut cfg = FunctionConfig::new("f", runtime);
        cfg.handler = "a.b".into();
        let mut l = Launch {
            argv: vec![],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            runtime_version: String::new(),
        };
        extend(&mut l, &cfg, Path::new(OPT));
        l.env
    }

    #[test]
    fn lambda_paths_follow_the_code() {
        let env = env_of(
            "python3.12",
            &[
                ("PYTHONPATH", "/var/task:/usr/lib/python3.12"),
                ("PATH", "/usr/bin"),
            ],
        );
        assert_eq!(
            get(&env, "PYTHONPATH").unwrap(),
            "/var/task:/opt/python/lib/python3.12/site-packages:/opt/python:/usr/lib/python3.12"
        );
        assert_eq!(get(&env, "PATH").unwrap(), "/usr/bin:/opt/bin");
        assert_eq!(get(&env, "LD_LIBRARY_PATH").unwrap(), "/opt/lib");
        let env = env_of("nodejs20.x", &[]);
        assert_eq!(
            get(&env, "NODE_PATH").unwrap(),
            "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules"
        );
    }
}
