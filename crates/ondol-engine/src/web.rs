//! Web mode: an instance is any HTTP server (Flask, Express, Django ...) started by
//! the function's command with its port in `$PORT`. It is ready once its readiness
//! path answers; requests reach it over kept-alive loopback connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ondol_core::{Cause, FunctionError};

use crate::diagnose::Watch;
use crate::front::{BoxFuture, Front, Opened, ProxyBody};
use crate::process::Process;
use crate::spec::StartSpec;

/// Picks the instance's port and puts it in `$PORT` and the command.
pub(crate) fn open(spec: &StartSpec) -> std::io::Result<Opened> {
    let port = free_port()?;
    let capacity = spec
        .web
        .as_ref()
        .map_or(1, |w| w.instance_concurrency.max(1));
    Ok(Opened {
        front: Arc::new(WebTarget::new(port, capacity)),
        env: vec![("PORT".into(), port.to_string())],
        argv: substitute_port(&spec.launch.argv, port),
        netns: None,
    })
}

/// A free loopback port for a new instance.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `$PORT` and `${PORT}` in the command become the instance's port.
fn substitute_port(argv: &[String], port: u16) -> Vec<String> {
    let p = port.to_string();
    argv.iter()
        .map(|a| a.replace("${PORT}", &p).replace("$PORT", &p))
        .collect()
}

/// Where an instance listens, with a keep-alive client to it.
pub(crate) struct WebTarget {
    client: Client<HttpConnector, ProxyBody>,
    port: u16,
    capacity: u32,
}

impl WebTarget {
    fn new(port: u16, capacity: u32) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(conn);
        Self {
            client,
            port,
            capacity,
        }
    }

    fn uri(&self, path_and_query: &str) -> Uri {
        format!("http://127.0.0.1:{}{path_and_query}", self.port)
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/"))
    }

    /// Whether the app answers on `path` (any status below 500).
    async fn probe(&self, path: &str) -> bool {
        let req = Request::get(self.uri(path))
            .body(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync())
            .expect("static request");
        match self.client.request(req).await {
            Ok(r) => r.status().as_u16() < 500,
            Err(_) => false,
        }
    }

    /// Sends a request to the instance (its URI is rewritten to the instance).
    async fn send_to(
        &self,
        mut req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        *req.uri_mut() = self.uri(&pq);
        // The hop to the app is HTTP/1.1 even when the client came over HTTP/2.
        *req.version_mut() = http::Version::HTTP_11;
        self.client.request(req).await
    }

    /// Polls the readiness path until it answers, the process exits, or the init
    /// timeout passes. The wait is the Init Duration.
    async fn await_ready(
        &self,
        process: &Process,
        spec: &StartSpec,
        begun: Instant,
    ) -> Result<f64, FunctionError> {
        let path = spec.web.as_ref().map_or("/", |w| w.readiness_path.as_str());
        let deadline = begun + spec.init_timeout;
        let mut pause = Duration::from_millis(2);
        let mut watch = Watch::new(process, begun, Some(spec.slow_init), spec.under_init());
        loop {
            if self.probe(path).await {
                process.mem.sample_leader();
                return Ok(begun.elapsed().as_secs_f64() * 1000.0);
            }
            if let Some(why) = process.exit.borrow().clone() {
                process.capture.drain();
                return Err(FunctionError::platform(
                    "Runtime.ExitError",
                    format!("Web server exited before it was ready: {why}"),
                )
                .because(Cause::Exited {
                    how: why,
                    init: true,
                }));
            }
            if Instant::now() >= deadline {
                let place = watch.summary();
                process.kill();
                let port = self.port;
                let msg = format!(
                    "Init timed out after {:.2} seconds: nothing answered GET {path} on port {port}; the app was given PORT={port} and must listen on it; still in {place}",
                    spec.init_timeout.as_secs_f64()
                );
                process.capture.platform(msg.clone());
                let cause = Cause::NotListening {
                    port,
                    path: path.to_string(),
                    limit_ms: spec.init_timeout.as_millis() as u64,
                };
                return Err(FunctionError::platform("Sandbox.Timedout", msg).because(cause));
            }
            if Instant::now() >= watch.due() {
                watch.tick(process);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(25));
        }
    }
}

impl Front for WebTarget {
    fn capacity(&self) -> u32 {
        self.capacity
    }

    fn ready<'a>(
        &'a self,
        process: &'a Process,
        spec: &'a StartSpec,
        begun: Instant,
    ) -> BoxFuture<'a, Result<f64, FunctionError>> {
        Box::pin(self.await_ready(process, spec, begun))
    }

    fn send(&self, req: Request<ProxyBody>) -> BoxFuture<'_, Result<Response<Incoming>, String>> {
        Box::pin(async move { self.send_to(req).await.map_err(|e| e.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_port() {
        let argv = vec![
            "run".to_string(),
            "--port".into(),
            "$PORT".into(),
            "--bind=:${PORT}".into(),
        ];
        assert_eq!(
            substitute_port(&argv, 8123),
            ["run", "--port", "8123", "--bind=:8123"]
        );
    }
}
