//! The Lambda front: a runtime polling its own Runtime API listener on loopback.
//! It is ready at its first `/next`; an invocation is dispatched to that `/next`
//! and waits for `/response` or `/error`, the timeout, or the process's exit. A
//! slow init is watched (`diagnose`); a timeout's error says where the code was.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ondol_core::{Cause, FunctionError, InvokeRequest};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::diagnose::Watch;
use crate::front::{BoxFuture, Death, Front, Opened, Ran};
use crate::process::Process;
use crate::report;
use crate::runtime_api::{Dispatch, InitSignal, Reply, RuntimeApi};
use crate::spec::StartSpec;

pub(crate) struct LambdaFront {
    api: Arc<RuntimeApi>,
    dispatch: mpsc::Sender<Dispatch>,
    init: Mutex<Option<oneshot::Receiver<InitSignal>>>,
}

type Outcome = (Result<Bytes, FunctionError>, Option<Death>);

/// Binds the instance's Runtime API listener and serves it: on the host's
/// loopback, open to the instance's uid alone, or alone in the instance's own
/// network namespace (no network), where nobody else can reach it.
pub(crate) async fn open(spec: &StartSpec) -> std::io::Result<Opened> {
    let (listener, netns, owner) = if spec.isolated_network {
        let iso = crate::netns::isolated().await?;
        (iso.listener, Some(iso.ns), None)
    } else {
        let l = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        (l, None, spec.jail.as_ref().map(|j| j.uid()))
    };
    let (api, dispatch, init_rx) = RuntimeApi::new(spec.max_response, owner);
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tokio::spawn(api.clone().serve(listener));
    Ok(Opened {
        front: Arc::new(LambdaFront {
            api,
            dispatch,
            init: Mutex::new(Some(init_rx)),
        }),
        env: vec![("AWS_LAMBDA_RUNTIME_API".into(), format!("127.0.0.1:{port}"))],
        argv: spec.launch.argv.clone(),
        netns,
    })
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Front for LambdaFront {
    fn ready<'a>(
        &'a self,
        process: &'a Process,
        spec: &'a StartSpec,
        begun: Instant,
    ) -> BoxFuture<'a, Result<f64, FunctionError>> {
        Box::pin(self.await_init(process, spec, begun))
    }

    fn invoke<'a>(
        &'a self,
        process: &'a Process,
        req: InvokeRequest,
        request_id: Arc<str>,
        spec: &'a StartSpec,
    ) -> BoxFuture<'a, Ran> {
        Box::pin(self.run(process, req, request_id, spec))
    }

    fn first_contact(&self) -> Option<Instant> {
        self.api.first_contact()
    }

    fn close(&self) {
        self.api.close();
    }
}

impl LambdaFront {
    async fn await_init(
        &self,
        process: &Process,
        spec: &StartSpec,
        begun: Instant,
    ) -> Result<f64, FunctionError> {
        let Some(init_rx) = self.init.lock().take() else {
            return Ok(0.0);
        };
        let mut exit = process.exit.clone();
        let mut watch = Watch::new(process, begun, Some(spec.slow_init), spec.under_init());
        let outcome = tokio::select! {
            biased;
            s = init_rx => s.ok(),
            _ = exit.wait_for(Option::is_some) => None,
            _ = watch.until(process, begun + spec.init_timeout) => {
                return Err(self.init_timed_out(process, spec, &mut watch));
            }
        };
        match outcome {
            Some(InitSignal::Ready) => {
                process.mem.sample_leader();
                Ok(begun.elapsed().as_secs_f64() * 1000.0)
            }
            Some(InitSignal::Failed { error_type, body }) => {
                process.kill();
                let text = String::from_utf8_lossy(&body).into_owned();
                process.capture.platform(format!("INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: error\tError Type: {error_type}", begun.elapsed().as_secs_f64() * 1000.0));
                let body = if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
                    body
                } else {
                    FunctionError::platform(&error_type, text).body
                };
                Err(FunctionError {
                    error_type,
                    body,
                    cause: Cause::Init,
                })
            }
            None => Err(exited_during_init(process, spec)),
        }
    }

    /// Kills an init past its timeout: INIT_REPORT, and an error saying where it was.
    fn init_timed_out(
        &self,
        process: &Process,
        spec: &StartSpec,
        watch: &mut Watch,
    ) -> FunctionError {
        let place = where_stuck(self.api.where_note(None), watch);
        process.kill();
        let secs = spec.init_timeout.as_secs_f64();
        process.capture.platform(format!(
            "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: timeout",
            secs * 1000.0
        ));
        let msg = format!("Init timed out after {secs:.2} seconds: still in {place}");
        process.capture.platform(msg.clone());
        FunctionError::platform("Sandbox.Timedout", msg).because(Cause::Timeout {
            limit_ms: spec.init_timeout.as_millis() as u64,
            init: true,
        })
    }

    async fn run(
        &self,
        process: &Process,
        req: InvokeRequest,
        request_id: Arc<str>,
        spec: &StartSpec,
    ) -> Ran {
        let (tx, rx) = oneshot::channel();
        let dispatched = self.dispatch.try_send(Dispatch {
            request_id: request_id.clone(),
            deadline_ms: epoch_ms() + spec.timeout_ms,
            invoked_arn: req.invoked_arn,
            payload: req.payload,
            client_context: req.client_context,
            cognito_identity: req.cognito_identity,
            trace_id: req.trace_id,
            reply: tx,
        });
        let mut exit = process.exit.clone();
        let mut stream = None;
        let (result, death) = if dispatched.is_err() {
            crashed(process, &request_id, spec)
        } else {
            tokio::select! {
                biased;
                r = rx => match r {
                    Ok(Reply::Stream(s)) => {
                        stream = Some(s);
                        (Ok(Bytes::new()), None)
                    }
                    Ok(reply) => (map_reply(process, reply, spec), None),
                    Err(_) => crashed(process, &request_id, spec),
                },
                _ = exit.wait_for(Option::is_some) => crashed(process, &request_id, spec),
                _ = tokio::time::sleep(Duration::from_millis(spec.timeout_ms)) => {
                    let note = self.api.where_note(Some(&request_id));
                    let mut watch = Watch::new(process, Instant::now(), None, spec.under_init());
                    timed_out(process, &request_id, spec, &where_stuck(note, &mut watch))
                }
            }
        };
        Ran {
            result,
            death,
            stream,
        }
    }
}

fn exited_during_init(process: &Process, spec: &StartSpec) -> FunctionError {
    let why = process.why();
    process.capture.drain();
    if process.mem.was_oom_killed() {
        let msg = format!(
            "Runtime exited with error: {why} (out of memory: over memory_mb={})",
            spec.memory_mb
        );
        FunctionError::platform("Runtime.OutOfMemory", msg).because(Cause::OutOfMemory {
            memory_mb: spec.memory_mb,
        })
    } else {
        let msg = format!("Runtime exited with error: {why}");
        FunctionError::platform("Runtime.ExitError", msg).because(Cause::Exited {
            how: why,
            init: true,
        })
    }
}

/// The runtime's own word on where its code is (a built-in runtime's stack),
/// then what `/proc` shows it waiting on.
fn where_stuck(note: Option<String>, watch: &mut Watch) -> String {
    let seen = watch.summary();
    match note {
        Some(n) => format!("{n}, {seen}"),
        None => seen,
    }
}

fn timed_out(process: &Process, request_id: &str, spec: &StartSpec, place: &str) -> Outcome {
    process.kill();
    process
        .capture
        .platform(report::timed_out(request_id, spec.timeout_ms));
    let msg = format!(
        "RequestId: {request_id} Error: Task timed out after {:.2} seconds: still in {place}",
        spec.timeout_ms as f64 / 1000.0
    );
    (
        Err(
            FunctionError::platform("Sandbox.Timedout", msg).because(Cause::Timeout {
                limit_ms: spec.timeout_ms,
                init: false,
            }),
        ),
        Some(Death::Timeout),
    )
}

fn map_reply(process: &Process, reply: Reply, spec: &StartSpec) -> Result<Bytes, FunctionError> {
    match reply {
        Reply::Response(b) => Ok(b),
        Reply::Error { error_type, body } => Err(FunctionError {
            error_type,
            body,
            cause: Cause::Handler,
        }),
        Reply::TooLarge(size) => {
            let msg = format!(
                "Response payload size exceeded maximum allowed payload size ({} bytes). Raise the function's max_response_bytes to return more.",
                spec.max_response
            );
            process.capture.platform(msg.clone());
            Err(
                FunctionError::platform("Function.ResponseSizeTooLarge", msg).because(
                    Cause::ResponseTooLarge {
                        size: Some(size),
                        limit: spec.max_response,
                    },
                ),
            )
        }
        Reply::Stream(_) => Err(FunctionError::platform(
            "Runtime.Unknown",
            "unexpected stream".into(),
        )),
        Reply::Truncated => Err(FunctionError::platform(
            "Runtime.TruncatedResponse",
            "The runtime's response upload was cut off".into(),
        )),
    }
}

fn crashed(process: &Process, request_id: &str, spec: &StartSpec) -> Outcome {
    let why = process.why();
    if process.mem.was_oom_killed() {
        let msg = format!("RequestId: {request_id} Error: Runtime exited with error: {why} (out of memory: the instance exceeded memory_mb={}; raise memory_mb)", spec.memory_mb);
        process.capture.platform(msg.clone());
        (
            Err(
                FunctionError::platform("Runtime.OutOfMemory", msg).because(Cause::OutOfMemory {
                    memory_mb: spec.memory_mb,
                }),
            ),
            Some(Death::OutOfMemory),
        )
    } else {
        let msg = format!("RequestId: {request_id} Error: Runtime exited with error: {why}");
        process.capture.platform(msg.clone());
        let cause = Cause::Exited {
            how: why,
            init: false,
        };
        (
            Err(FunctionError::platform("Runtime.ExitError", msg).because(cause)),
            Some(Death::Crash),
        )
    }
}
