//! The AWS Lambda Web Adapter: a function with its layer
//! (`arn:aws:lambda:*:753240598075:layer:LambdaAdapterLayer*`) or its settings
//! (`AWS_LWA_PORT`, `AWS_LWA_READINESS_CHECK_PATH`) is an HTTP server, which ondol
//! runs natively in web mode: `runtime = "web"`, started by its `Handler` script.

use serde_json::{Map, Value};
use toml_edit::{value, Array, Table};

use super::intrinsics::Ctx;
use crate::import::Report;

/// The adapter's own variables, turned into web-mode settings (ondol sets `PORT`).
pub const ADAPTER_ENV: [&str; 7] = [
    "AWS_LWA_PORT",
    "PORT",
    "AWS_LWA_READINESS_CHECK_PATH",
    "READINESS_CHECK_PATH",
    "AWS_LAMBDA_EXEC_WRAPPER",
    "AWS_LWA_READINESS_CHECK_PROTOCOL",
    "AWS_LWA_INVOKE_MODE",
];

/// The adapter's layer, in any region and version, x86 or Arm.
pub fn is_adapter_layer(arn: &str) -> bool {
    arn.starts_with("arn:aws:lambda:") && arn.contains(":753240598075:layer:LambdaAdapterLayer")
}

/// What a web-mode function was found with.
pub struct Web {
    handler: Option<String>,
    /// (variable, value) of the adapter's settings the function had.
    settings: Vec<(String, String)>,
    layer: Option<usize>,
}

/// The function's web mode, if it uses the adapter.
pub fn detect(ctx: &Ctx, props: &Map<String, Value>) -> Option<Web> {
    let layers = props.get("Layers").and_then(|l| ctx.eval(l).ok().flatten());
    let layer = layers.as_ref().and_then(Value::as_array).and_then(|a| {
        a.iter()
            .position(|l| l.as_str().is_some_and(is_adapter_layer))
    });
    let vars = props
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_object);
    let settings: Vec<(String, String)> = ADAPTER_ENV
        .iter()
        .filter_map(|k| {
            let v = vars?.get(*k)?;
            Some((k.to_string(), ctx.string(v).ok()?))
        })
        .collect();
    let lwa_env = settings.iter().any(|(k, _)| k.starts_with("AWS_LWA_"));
    if layer.is_none() && !lwa_env {
        return None;
    }
    let handler = props.get("Handler").and_then(|h| ctx.string(h).ok());
    Some(Web {
        handler,
        settings,
        layer,
    })
}

impl Web {
    /// Makes `t` a web-mode function and reports each adapter setting.
    pub fn apply(self, t: &mut Table, id: &str, report: &mut Report) {
        let at = format!("Resources.{id}.Properties");
        t["runtime"] = value("web");
        let handler = self.handler.unwrap_or_else(|| "run.sh".into());
        let mut cmd = Array::new();
        if handler.ends_with(".sh") {
            cmd.push("sh");
        }
        cmd.push(handler.as_str());
        t["command"] = value(cmd.clone());
        let via = match self.layer {
            Some(i) => format!("{at}.Layers[{i}]"),
            None => format!("{at}.Environment"),
        };
        report.mapped(
            via,
            "the Lambda Web Adapter: runtime = \"web\" (ondol serves the HTTP server itself)",
        );
        report.mapped(
            format!("{at}.Handler"),
            format!("command = {cmd} (the app listens on $PORT, which ondol sets)"),
        );
        report.mapped(
            format!("{at}.Runtime"),
            "the command's interpreter, found on the server's PATH",
        );
        for (k, v) in self.settings {
            let key = format!("{at}.Environment.Variables.{k}");
            match k.as_str() {
                "AWS_LWA_READINESS_CHECK_PATH" | "READINESS_CHECK_PATH" => {
                    t["readiness_path"] = value(&v);
                    report.mapped(key, format!("readiness_path = {v:?}"));
                }
                "PORT" | "AWS_LWA_PORT" => report.mapped(
                    key,
                    format!("ondol gives each instance its own $PORT instead of {v}"),
                ),
                "AWS_LAMBDA_EXEC_WRAPPER" => {
                    report.mapped(key, "not needed: ondol starts the command itself")
                }
                _ => report.unsupported(key, "an adapter setting ondol's web mode does not have"),
            }
        }
    }
}
