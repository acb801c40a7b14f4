//! Web mode: an instance is any HTTP server (Flask, Express, Django ...) started by
//! the function's command with its port in `$PORT`. It is ready once its readiness
//! path answers; requests reach it over kept-alive loopback connections.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ondol_core::FunctionError;

use crate::instance::{Instance, StartSpec};

/// A request or response body as the proxy carries it.
pub type ProxyBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A free loopback port for a new instance.
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `$PORT` and `${PORT}` in the command become the instance's port.
pub(crate) fn substitute_port(argv: &[String], port: u16) -> Vec<String> {
    let p = port.to_string();
    argv.iter()
        .map(|a| a.replace("${PORT}", &p).replace("$PORT", &p))
        .collect()
}

/// Where an instance listens, with a keep-alive client to it.
#[derive(Clone)]
pub(crate) struct WebTarget {
    client: Client<HttpConnector, ProxyBody>,
    port: u16,
}

impl WebTarget {
    pub fn new(port: u16) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(conn);
        Self { client, port }
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
    pub async fn send(
        &self,
        mut req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        *req.uri_mut() = self.uri(&pq);
        self.client.request(req).await
    }
}

impl Instance {
    /// Polls the readiness path until it answers, the process exits, or the init
    /// timeout passes. The wait is the Init Duration.
    pub(crate) async fn await_ready(
        &self,
        begun: Instant,
        spec: &StartSpec,
    ) -> Result<f64, FunctionError> {
        let crate::instance::Front::Web(target) = &self.front else {
            return Ok(0.0);
        };
        let path = spec.web.as_ref().map_or("/", |w| w.readiness_path.as_str());
        let deadline = begun + spec.init_timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            if target.probe(path).await {
                self.mem.sample_leader();
                return Ok(begun.elapsed().as_secs_f64() * 1000.0);
            }
            if let Some(why) = self.exit.borrow().clone() {
                self.capture.drain();
                return Err(FunctionError::platform(
                    "Runtime.ExitError",
                    format!("Web server exited before it was ready: {why}"),
                ));
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(FunctionError::platform(
                    "Sandbox.Timedout",
                    format!(
                        "Init timed out after {:.2} seconds: {path} never answered (init_timeout)",
                        spec.init_timeout.as_secs_f64()
                    ),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(25));
        }
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
