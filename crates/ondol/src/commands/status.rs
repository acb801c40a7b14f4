//! `ondol status` (and `ondol ls`): apps, routes, functions with their aliases and
//! instances, and the last 5 minutes and hour of each, from `GET /ondol/v1/status`.

use std::process::ExitCode;

use anyhow::Result;
use ondol_core::status::{FunctionStatus, Status, Summary};

use crate::api::{Client, DEFAULT_ENDPOINT};

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (the server's answer as is).
    #[arg(long)]
    json: bool,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let status: Status = Client::new(&a.endpoint).get("/ondol/v1/status").await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// The whole status as aligned text tables.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    if s.apps.is_empty() {
        out.push_str("no apps\n");
    } else {
        let mut rows = vec![row(["APP", "STAGE", "HOSTS", "ROUTE", "FUNCTION"])];
        for a in &s.apps {
            let hosts = if a.hosts.is_empty() {
                "-".into()
            } else {
                a.hosts.join(",")
            };
            for r in &a.routes {
                let route = match &r.host {
                    Some(h) => format!("{} (host {h})", r.route),
                    None => r.route.clone(),
                };
                let target = match &r.qualifier {
                    Some(q) => format!("{}:{q}", r.function),
                    None => r.function.clone(),
                };
                rows.push(vec![
                    a.app.clone(),
                    a.stage.clone(),
                    hosts.clone(),
                    route,
                    target,
                ]);
            }
        }
        out.push_str(&table(&rows, &[]));
    }
    out.push('\n');
    if s.functions.is_empty() {
        out.push_str("no functions\n");
        return out;
    }
    let mut rows = vec![row([
        "FUNCTION", "RUNTIME", "MEMORY", "ALIASES", "WARM", "BUSY", "STARTING",
    ])];
    for f in &s.functions {
        let i = f.instances;
        rows.push(vec![
            f.name.clone(),
            f.runtime.clone(),
            format!("{} MB", f.memory_mb),
            aliases(f),
            i.idle.to_string(),
            i.busy.to_string(),
            i.starting.to_string(),
        ]);
    }
    out.push_str(&table(&rows, &[2, 4, 5, 6]));
    out.push('\n');
    let mut rows = vec![row([
        "FUNCTION",
        "WINDOW",
        "INVOCATIONS",
        "ERRORS",
        "THROTTLES",
        "P50",
        "P99",
        "COLD STARTS",
        "INIT P50",
    ])];
    for f in &s.functions {
        rows.push(window(&f.name, "5m", &f.last_5m));
        rows.push(window(&f.name, "1h", &f.last_hour));
    }
    out.push_str(&table(&rows, &[2, 3, 4, 5, 6, 7, 8]));
    out
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// `live=3` or `live=3:90%,4:10%` for a split.
fn aliases(f: &FunctionStatus) -> String {
    if f.aliases.is_empty() {
        return "-".into();
    }
    f.aliases
        .iter()
        .map(|a| {
            let live: Vec<_> = a.weights.iter().filter(|(_, w)| **w > 0.0).collect();
            let versions = match live.as_slice() {
                [(v, _)] => v.to_string(),
                _ => live
                    .iter()
                    .map(|(v, w)| format!("{v}:{:.0}%", *w * 100.0))
                    .collect::<Vec<_>>()
                    .join(","),
            };
            format!("{}={versions}", a.name)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn window(name: &str, label: &str, s: &Summary) -> Vec<String> {
    vec![
        name.to_string(),
        label.to_string(),
        s.invocations.to_string(),
        s.errors.to_string(),
        s.throttles.to_string(),
        ms(s.p50_ms),
        ms(s.p99_ms),
        s.cold_starts.to_string(),
        ms(s.init_p50_ms),
    ]
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(v) if v >= 10.0 => format!("{v:.0} ms"),
        Some(v) => format!("{v:.1} ms"),
    }
}

/// Columns padded to their widest cell; those in `right` aligned right.
fn table(rows: &[Vec<String>], right: &[usize]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if right.contains(&c) {
                    format!("{s:>w$}", w = widths[c])
                } else {
                    format!("{s:<w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
