//! Warm invokes: ondol's Invoke API on a warm Rust function vs a hyper echo server,
//! both driven by the same client over keep-alive connections.

use std::convert::Infallible;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::client::Conn;
use crate::ondol::{zip_dir, Server};
use crate::stats::Sample;

/// A minimal hyper HTTP/1.1 server answering every request with its body.
pub async fn echo_server(port: u16) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("{}", listener.local_addr()?);
    loop {
        let (s, _) = listener.accept().await?;
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(
                |req: http::Request<hyper::body::Incoming>| async move {
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    Ok::<_, Infallible>(Response::new(Full::new(body)))
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(s), svc)
                .await;
        });
    }
}

/// Drives `path` on `base` with `conc` connections for `secs`; returns latencies.
async fn load(base: &str, path: &str, conc: usize, secs: u64) -> Result<(Vec<Duration>, f64)> {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = vec![];
    for _ in 0..conc {
        let mut c = Conn::open(base).await?;
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            while Instant::now() < end {
                let t = Instant::now();
                let (status, _, _) = c
                    .send(
                        "POST",
                        &path,
                        &[],
                        Bytes::from_static(b"{\"name\":\"bench\"}"),
                    )
                    .await?;
                anyhow::ensure!(status == 200, "status {status}");
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let started = Instant::now();
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await??);
    }
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((all, rps))
}

pub async fn run(secs: u64, conc: usize, bin: &Path) -> Result<()> {
    let rust_bin = std::fs::read("target/release/bootstrap")
        .context("build the Rust fixture first: cargo build --release -p rust-hello")?;
    let server = Server::start(bin)?;
    server
        .create(
            "warm",
            "provided.al2023",
            "bootstrap",
            zip_dir(None, &[("bootstrap", rust_bin)])?,
        )
        .await?;
    let invoke = "/2015-03-31/functions/warm/invocations";

    let me = std::env::current_exe()?;
    let mut echo = std::process::Command::new(me)
        .arg("echo-server")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(echo.stdout.as_mut().expect("piped")),
        &mut line,
    )?;
    let echo_base = format!("http://{}", line.trim());

    // Warm both up, and start `conc` ondol instances.
    load(&server.api, invoke, conc, 1).await?;
    load(&echo_base, "/", conc, 1).await?;

    println!("| target | concurrency | p50 | p99 | requests/s |");
    println!("|---|---|---|---|---|");
    let mut p50s = vec![];
    for c in [1, conc] {
        let (e_lat, e_rps) = load(&echo_base, "/", c, secs).await?;
        let (o_lat, o_rps) = load(&server.api, invoke, c, secs).await?;
        let (e, o) = (Sample::of(&e_lat), Sample::of(&o_lat));
        println!(
            "| hyper echo server | {c} | {:.3} ms | {:.3} ms | {e_rps:.0} |",
            e.p50(),
            e.pct(99.0)
        );
        println!(
            "| ondol Invoke → Rust function | {c} | {:.3} ms | {:.3} ms | {o_rps:.0} |",
            o.p50(),
            o.pct(99.0)
        );
        p50s.push((c, o.p50() - e.p50(), o_rps / e_rps));
    }
    println!();
    for (c, d, r) in p50s {
        println!("concurrency {c}: ondol p50 overhead over the echo server {d:+.3} ms; throughput ratio {r:.2}×");
    }
    let _ = echo.kill();
    Ok(())
}
