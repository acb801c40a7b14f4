//! Zappa's `zappa_settings.json`: one stage (with `extends` resolved) becomes one
//! web-mode function serving the project's WSGI app (`app_function`, or a Django
//! project's `django_settings`) unchanged behind `ANY /` and `ANY /{proxy+}`;
//! `events` become Lambda functions on schedules, `keep_warm` becomes `min_warm`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use super::{toml_str, Imported, Report};

/// Serves the WSGI app named in `$WSGI_APP` (`module.attr`) on `$PORT` with the
/// standard library's threaded WSGI server; Django projects name their settings.
const SERVE: &str = "import importlib, os, socketserver, sys\n\
sys.path.insert(0, os.getcwd())\n\
from wsgiref.simple_server import WSGIServer, WSGIRequestHandler, make_server\n\
class Server(socketserver.ThreadingMixIn, WSGIServer):\n    daemon_threads = True\n\
if os.environ.get('DJANGO_SETTINGS_MODULE'):\n    from django.core.wsgi import get_wsgi_application\n    app = get_wsgi_application()\n\
else:\n    module, _, attr = os.environ['WSGI_APP'].rpartition('.')\n    app = getattr(importlib.import_module(module), attr)\n\
make_server('127.0.0.1', int(os.environ['PORT']), app, server_class=Server, handler_class=WSGIRequestHandler).serve_forever()\n";

/// Keys read elsewhere or meaningless here, with why.
const IGNORED: &[(&str, &str)] = &[
    (
        "aws_region",
        "ondol serves on this machine; the region comes from the server",
    ),
    ("profile_name", "no AWS credentials are used"),
    (
        "s3_bucket",
        "code is uploaded to the ondol server, not to S3",
    ),
    (
        "slim_handler",
        "no package size limit applies: the whole project is served",
    ),
    (
        "keep_warm_expression",
        "min_warm keeps an instance started; no ping is needed",
    ),
    ("role_name", "no IAM: functions run in ondol's sandbox"),
    ("role_arn", "no IAM: functions run in ondol's sandbox"),
    ("manage_roles", "no IAM: functions run in ondol's sandbox"),
    (
        "vpc_config",
        "no VPC: functions use the host's network (or network = \"none\")",
    ),
    (
        "certificate_arn",
        "custom domains come with the production front door (TLS)",
    ),
    (
        "domain",
        "custom domains come with the production front door (TLS)",
    ),
    ("apigateway_enabled", "the front door always serves the app"),
    ("cors", "set [http] cors in ondol.toml"),
    (
        "binary_support",
        "the front door passes bodies through as bytes",
    ),
    ("project_name", ""),
    ("app_function", ""),
    ("django_settings", ""),
    ("extends", ""),
];

/// One stage's settings with `extends` applied (the child wins), at most 10 deep.
fn resolved(all: &Map<String, Value>, stage: &str) -> Result<Map<String, Value>> {
    let mut chain = Vec::new();
    let mut name = stage.to_string();
    loop {
        let s = all
            .get(&name)
            .and_then(Value::as_object)
            .with_context(|| format!("stage \"{name}\" is not an object of zappa_settings.json"))?;
        chain.push(s.clone());
        match s.get("extends").and_then(Value::as_str) {
            Some(parent) if chain.len() < 10 => name = parent.to_string(),
            Some(_) => bail!("stage \"{stage}\": `extends` goes more than 10 deep"),
            None => break,
        }
    }
    let mut out = Map::new();
    for s in chain.into_iter().rev() {
        out.extend(s);
    }
    Ok(out)
}

/// The stage to import: the one asked for, else `dev`, else the only one.
fn pick(all: &Map<String, Value>, stage: Option<&str>) -> Result<String> {
    if let Some(s) = stage {
        if all.contains_key(s) {
            return Ok(s.to_string());
        }
        let known: Vec<&String> = all.keys().collect();
        bail!("no stage \"{s}\" in zappa_settings.json (it has {known:?})");
    }
    if all.contains_key("dev") || all.len() == 1 {
        return Ok(all
            .keys()
            .find(|k| *k == "dev")
            .unwrap_or(all.keys().next().unwrap())
            .clone());
    }
    let known: Vec<&String> = all.keys().collect();
    bail!("zappa_settings.json has stages {known:?}: choose one with --stage")
}

pub fn import(source: &Path, stage: Option<&str>) -> Result<Imported> {
    let text =
        std::fs::read_to_string(source).with_context(|| format!("reading {}", source.display()))?;
    let all: Map<String, Value> = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a JSON object of stages", source.display()))?;
    let name = pick(&all, stage)?;
    let s = resolved(&all, &name)?;
    let mut report = Report::default();
    let mut m = String::new();
    let dir = source.parent().unwrap_or(Path::new("."));
    let project = s
        .get("project_name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| super::dir_name(dir))
        .unwrap_or_else(|| "app".into());
    let app: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let _ = writeln!(
        m,
        "# Imported from {} (stage \"{name}\").",
        source.display()
    );
    let _ = writeln!(m, "app = {}", toml_str(&app));
    report.mapped(format!("{name}.project_name"), format!("app = \"{app}\""));
    if stage.is_some() {
        let bare = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let key = if bare { name.clone() } else { toml_str(&name) };
        let _ = writeln!(m, "\n# The Zappa stage.\n[stages.{key}]");
    }
    web_function(&s, &name, &mut m, &mut report)?;
    events(&s, &name, &mut m, &mut report)?;
    for (k, _) in &s {
        let known = IGNORED.iter().find(|(i, _)| i == k);
        match known {
            Some((_, "")) => {}
            Some((_, why)) => report.unsupported(format!("{name}.{k}"), *why),
            None if HANDLED.contains(&k.as_str()) => {}
            None => report.unsupported(format!("{name}.{k}"), "not a setting ondol knows"),
        }
    }
    Ok(Imported {
        manifest: m,
        report,
    })
}

/// Keys `web_function` and `events` map.
const HANDLED: &[&str] = &[
    "memory_size",
    "timeout_seconds",
    "environment_variables",
    "keep_warm",
    "events",
    "runtime",
    "exclude",
];

/// The environment that names the app to serve, plus the stage's own variables.
fn app_environment(
    s: &Map<String, Value>,
    stage: &str,
    r: &mut Report,
) -> Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = Vec::new();
    match (
        s.get("app_function").and_then(Value::as_str),
        s.get("django_settings").and_then(Value::as_str),
    ) {
        (_, Some(settings)) => {
            env.push(("DJANGO_SETTINGS_MODULE".into(), settings.into()));
            r.mapped(format!("{stage}.django_settings"), "functions.app: the Django project's WSGI application, served on $PORT");
        }
        (Some(app), None) => {
            env.push(("WSGI_APP".into(), app.into()));
            r.mapped(format!("{stage}.app_function"), format!("functions.app: the WSGI app {app}, served on $PORT"));
        }
        (None, None) => bail!("stage \"{stage}\": expected app_function (a WSGI app like \"app.app\") or django_settings"),
    }
    if let Some(vars) = s.get("environment_variables").and_then(Value::as_object) {
        for (k, v) in vars {
            env.push((
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            ));
        }
        r.mapped(
            format!("{stage}.environment_variables"),
            "functions.app.environment",
        );
    }
    Ok(env)
}

fn web_function(s: &Map<String, Value>, stage: &str, m: &mut String, r: &mut Report) -> Result<()> {
    let env = app_environment(s, stage, r)?;
    let _ = writeln!(
        m,
        "\n# The WSGI app, served unchanged by Python's threaded WSGI server.\n[functions.app]"
    );
    let _ = writeln!(m, "runtime = \"web\"\ncode = \".\"");
    let _ = writeln!(m, "command = [\"python3\", \"-c\", {}]", toml_str(SERVE));
    // Zappa's own defaults: 512 MB, 30 s.
    let memory = s.get("memory_size").and_then(Value::as_u64).unwrap_or(512);
    let _ = writeln!(m, "memory_mb = {memory}");
    r.mapped(
        format!("{stage}.memory_size"),
        format!("functions.app.memory_mb = {memory}"),
    );
    let timeout = s
        .get("timeout_seconds")
        .and_then(Value::as_u64)
        .unwrap_or(30);
    let _ = writeln!(m, "timeout = \"{timeout}s\"");
    r.mapped(
        format!("{stage}.timeout_seconds"),
        format!("functions.app.timeout = \"{timeout}s\""),
    );
    if s.get("keep_warm").and_then(Value::as_bool).unwrap_or(true) {
        // Zappa keeps warm by default with a ping every 4 minutes; a started instance does it.
        let _ = writeln!(m, "min_warm = 1");
        r.mapped(
            format!("{stage}.keep_warm"),
            "functions.app.min_warm = 1 (no ping needed)",
        );
    }
    let pairs: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{} = {}", toml_str(k), toml_str(v)))
        .collect();
    let _ = writeln!(m, "environment = {{ {} }}", pairs.join(", "));
    if s.contains_key("runtime") {
        r.mapped(
            format!("{stage}.runtime"),
            "the machine's python3 serves the app (web mode); the events' functions use it",
        );
    }
    if let Some(x) = s.get("exclude") {
        // Zappa matches each pattern against names at any depth, as gitignore does.
        let lines: Vec<String> = x
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(toml_str)
            .collect();
        let _ = writeln!(m, "exclude = [{}]", lines.join(", "));
        r.mapped(
            format!("{stage}.exclude"),
            "functions.app.exclude (gitignore patterns, after .ondolignore)",
        );
    }
    for route in ["ANY /", "ANY /{proxy+}"] {
        let _ = writeln!(
            m,
            "\n[[routes]]\nroute = {}\nfunction = \"app\"",
            toml_str(route)
        );
    }
    Ok(())
}

/// `events: [{"function": "tasks.run", "expression": "rate(1 hour)"}]`.
fn events(s: &Map<String, Value>, stage: &str, m: &mut String, r: &mut Report) -> Result<()> {
    let Some(list) = s.get("events").and_then(Value::as_array) else {
        return Ok(());
    };
    let runtime = s
        .get("runtime")
        .and_then(Value::as_str)
        .unwrap_or("python3.11");
    for (i, e) in list.iter().enumerate() {
        let key = format!("{stage}.events[{i}]");
        let (Some(handler), Some(expr)) = (
            e.get("function").and_then(Value::as_str),
            e.get("expression").and_then(Value::as_str),
        ) else {
            r.unsupported(key, "only scheduled events (function + expression) are served; event sources such as S3 or SQS are not");
            continue;
        };
        let fkey = format!("event-{i}");
        let _ = writeln!(
            m,
            "\n# {key}\n[functions.{fkey}]\nruntime = {}\nhandler = {}\ncode = \".\"",
            toml_str(runtime),
            toml_str(handler)
        );
        let _ = writeln!(
            m,
            "\n[[schedules]]\nname = {}\nfunction = {}\nexpression = {}",
            toml_str(e.get("name").and_then(Value::as_str).unwrap_or(&fkey)),
            toml_str(&fkey),
            toml_str(expr)
        );
        r.mapped(
            key,
            format!("functions.{fkey} ({handler}) on schedule {expr}"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extends_and_keys() {
        let all: Map<String, Value> = serde_json::from_str(
            r#"{"base": {"app_function": "app.app", "memory_size": 256, "s3_bucket": "b"},
                "dev": {"extends": "base", "memory_size": 512}}"#,
        )
        .unwrap();
        let s = resolved(&all, "dev").unwrap();
        assert_eq!(s["memory_size"], 512);
        assert_eq!(s["app_function"], "app.app");
        assert_eq!(pick(&all, None).unwrap(), "dev");
        assert!(pick(&all, Some("prod"))
            .unwrap_err()
            .to_string()
            .contains("no stage \"prod\""));
    }
}
