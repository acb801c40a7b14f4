//! The baseline for cold starts: the same runtime process started directly against
//! a minimal Runtime API that serves one event. Measures spawn → first `/next`
//! (the bare init) and spawn → `/response` (the bare cold invoke).

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

#[derive(Default)]
struct State {
    first_next: Mutex<Option<Instant>>,
    responded: Mutex<Option<Instant>>,
    done: Notify,
}

async fn handle(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if path.ends_with("/invocation/next") {
        let first = {
            let mut f = st.first_next.lock().unwrap();
            let first = f.is_none();
            if first {
                *f = Some(Instant::now());
            }
            first
        };
        if !first {
            std::future::pending::<()>().await;
        }
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 3000;
        return Ok(Response::builder()
            .header(
                "lambda-runtime-aws-request-id",
                "00000000-0000-0000-0000-000000000001",
            )
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:bare",
            )
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap());
    }
    let _ = req.into_body().collect().await;
    if path.ends_with("/response") {
        *st.responded.lock().unwrap() = Some(Instant::now());
        st.done.notify_one();
    }
    Ok(Response::builder()
        .status(202)
        .body(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")))
        .unwrap())
}

/// One bare cold start of `argv` with `env`: (time to first /next, time to response).
pub async fn bare_cold(
    argv: &[String],
    cwd: &Path,
    env: &[(String, String)],
) -> Result<(Duration, Duration)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let st = Arc::new(State::default());
    let server_state = st.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let _ = s.set_nodelay(true);
            let st = server_state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |r| handle(st.clone(), r));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let begun = Instant::now();
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let ok = tokio::time::timeout(Duration::from_secs(10), st.done.notified()).await;
    let _ = child.kill().await;
    server.abort();
    if ok.is_err() {
        bail!("bare runtime {argv:?} never responded");
    }
    let next = st.first_next.lock().unwrap().unwrap() - begun;
    let resp = st.responded.lock().unwrap().unwrap() - begun;
    Ok((next, resp))
}
