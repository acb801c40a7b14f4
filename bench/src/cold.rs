//! Cold starts: ondol's Invoke on a cold function vs the bare runtime process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine as _;
use bytes::Bytes;

use crate::client::Conn;
use crate::ondol::{zip_dir, Server};
use crate::stats::Sample;
use crate::stub::bare_cold;

struct Case {
    name: &'static str,
    runtime: &'static str,
    handler: &'static str,
    code_dir: PathBuf,
    zip: Vec<u8>,
}

fn capture(cmd: &str, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(cmd).args(args).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// argv and environment of a runtime process.
type Launch = (Vec<String>, Vec<(String, String)>);

/// How ondol starts each runtime, rebuilt here for the bare baseline.
fn bare_launch(case: &Case, data_dir: &Path) -> Result<Launch> {
    let root = case.code_dir.display().to_string();
    let mut env = vec![
        (
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        ),
        ("_HANDLER".into(), case.handler.into()),
        ("LAMBDA_TASK_ROOT".into(), root.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), "bare".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            "/aws/lambda/bare".into(),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME".into(),
            "2026/01/01/[$LATEST]0".into(),
        ),
        ("AWS_REGION".into(), "us-east-1".into()),
    ];
    let argv = match case.runtime {
        "python3.11" => {
            let info = capture("python3", &["-c", "import sys,os;print(sys.executable);print(os.pathsep.join(p for p in sys.path if p));print(sys.implementation.cache_tag)"])?;
            let mut l = info.lines();
            let (exe, path, tag) = (
                l.next().unwrap_or_default(),
                l.next().unwrap_or_default(),
                l.next().unwrap_or_default(),
            );
            env.push(("PYTHONPATH".into(), format!("{root}:{path}")));
            env.push(("PYTHONUNBUFFERED".into(), "1".into()));
            let boot = data_dir.join(format!("runtimes/python/bootstrap.{tag}.pyc"));
            vec![
                exe.to_string(),
                "-S".into(),
                "-u".into(),
                boot.display().to_string(),
            ]
        }
        "nodejs20.x" => {
            let exe = capture("node", &["-e", "process.stdout.write(process.execPath)"])?;
            vec![
                exe,
                data_dir
                    .join("runtimes/node/bootstrap.js")
                    .display()
                    .to_string(),
            ]
        }
        _ => vec![case.code_dir.join("bootstrap").display().to_string()],
    };
    Ok((argv, env))
}

fn init_duration(tail_b64: &str) -> Option<f64> {
    let text = base64::engine::general_purpose::STANDARD
        .decode(tail_b64)
        .ok()?;
    let text = String::from_utf8_lossy(&text);
    let s = text.split("Init Duration: ").nth(1)?;
    s.split(" ms").next()?.parse().ok()
}

pub async fn run(runs: usize, bin: &Path) -> Result<()> {
    let root = std::env::current_dir()?;
    let rust_dir = root.join("target/release");
    let rust_bin = std::fs::read(rust_dir.join("bootstrap"))
        .context("build the Rust fixture first: cargo build --release -p rust-hello")?;
    let cases = [
        Case {
            name: "provided (Rust lambda_runtime)",
            runtime: "provided.al2023",
            handler: "bootstrap",
            code_dir: rust_dir,
            zip: zip_dir(None, &[("bootstrap", rust_bin)])?,
        },
        Case {
            name: "python3.11",
            runtime: "python3.11",
            handler: "app.handler",
            code_dir: root.join("bench/functions/py_hello"),
            zip: zip_dir(Some(&root.join("bench/functions/py_hello")), &[])?,
        },
        Case {
            name: "nodejs20.x",
            runtime: "nodejs20.x",
            handler: "index.handler",
            code_dir: root.join("bench/functions/node_hello"),
            zip: zip_dir(Some(&root.join("bench/functions/node_hello")), &[])?,
        },
    ];
    let server = Server::start(bin)?;
    println!("| runtime | bare: spawn → first /next | ondol: Init Duration | bare: spawn → response | ondol: cold Invoke, client-measured | ondol overhead (p50) |");
    println!("|---|---|---|---|---|---|");
    for (i, case) in cases.iter().enumerate() {
        let fname = format!("cold{i}");
        server
            .create(&fname, case.runtime, case.handler, case.zip.clone())
            .await?;
        let (argv, env) = bare_launch(case, &server.data_dir)?;
        let mut conn = Conn::open(&server.api).await?;
        let (mut bare_next, mut bare_resp, mut ondol_init, mut ondol_e2e) =
            (vec![], vec![], vec![], vec![]);
        for r in 0..runs + 2 {
            // Alternate the two so drift on the machine hits both alike.
            let (n, resp) = bare_cold(&argv, &case.code_dir, &env).await?;
            // A configuration change replaces the pool: the next Invoke is cold.
            let cfg = serde_json::json!({"Environment": {"Variables": {"RUN": r.to_string()}}});
            conn.send(
                "PUT",
                &format!("/2015-03-31/functions/{fname}/configuration"),
                &[],
                Bytes::from(cfg.to_string()),
            )
            .await?;
            tokio::time::sleep(Duration::from_millis(30)).await;
            let t = Instant::now();
            let (status, h, body) = conn
                .send(
                    "POST",
                    &format!("/2015-03-31/functions/{fname}/invocations"),
                    &[("x-amz-log-type", "Tail")],
                    Bytes::from_static(b"{}"),
                )
                .await?;
            let e2e = t.elapsed();
            anyhow::ensure!(
                status == 200 && !h.contains_key("x-amz-function-error"),
                "invoke failed: {}",
                String::from_utf8_lossy(&body)
            );
            let init = h
                .get("x-amz-log-result")
                .and_then(|v| v.to_str().ok())
                .and_then(init_duration)
                .context("no Init Duration: not cold")?;
            if r >= 2 {
                bare_next.push(n);
                bare_resp.push(resp);
                ondol_init.push(init);
                ondol_e2e.push(e2e);
            }
        }
        let (bn, br, oi, oe) = (
            Sample::of(&bare_next),
            Sample::of(&bare_resp),
            Sample::new(ondol_init),
            Sample::of(&ondol_e2e),
        );
        println!(
            "| {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms (p90 {:.2}) | init {:+.2} ms, end to end {:+.2} ms |",
            case.name, bn.p50(), oi.p50(), br.p50(), oe.p50(), oe.pct(90.0), oi.p50() - bn.p50(), oe.p50() - br.p50()
        );
    }
    println!("\n{runs} runs each, medians; the two sides alternate run by run.");
    Ok(())
}
