//! One instance: an OS process running a Lambda runtime against its own Runtime API
//! listener. Starting it is the cold start (spawn, then wait for the first `/next`);
//! invoking it enforces the timeout and turns crashes and OOM kills into errors.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ondol_core::{FunctionError, InvokeRequest, LogSink};
use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};

use crate::capture::Capture;
use crate::launcher;
use crate::memwatch::{MemWatch, Watched};
use crate::reaper::Reaper;
use crate::report;
use crate::runtime_api::{Dispatch, InitSignal, Reply, RuntimeApi};
use crate::runtimes::Launch;
use crate::sandbox::{self, kill_group, CgroupRoot};
use crate::web;

/// What a pool needs to start instances of one version.
pub(crate) struct StartSpec {
    pub launch: Launch,
    pub code_dir: PathBuf,
    pub function: Arc<str>,
    pub version: Arc<str>,
    pub memory_mb: u32,
    pub timeout_ms: u64,
    pub init_timeout: Duration,
    pub max_response: u64,
    pub sink: Arc<dyn LogSink>,
    pub memwatch: Arc<MemWatch>,
    pub cgroups: Option<CgroupRoot>,
    /// Told of every instance group, to kill them if the server dies.
    pub reaper: Option<Arc<Reaper>>,
    /// Web mode: the instance is an HTTP server on `$PORT`.
    pub web: Option<ondol_core::WebOptions>,
}

/// Why an instance can't serve any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Death {
    Timeout,
    Crash,
    OutOfMemory,
}

/// How the platform talks to an instance.
#[derive(Clone)]
pub(crate) enum Front {
    /// A Lambda runtime polling its own Runtime API listener.
    Runtime {
        api: Arc<RuntimeApi>,
        dispatch: tokio::sync::mpsc::Sender<Dispatch>,
    },
    /// An HTTP server on a loopback port.
    Web(web::WebTarget),
}

impl Front {
    fn close(&self) {
        if let Front::Runtime { api, .. } = self {
            api.close();
        }
    }
}

pub(crate) struct Instance {
    pub id: Arc<str>,
    pgid: u32,
    pub(crate) front: Front,
    pub(crate) exit: watch::Receiver<Option<String>>,
    pub(crate) capture: Arc<Capture>,
    pub(crate) mem: Arc<Watched>,
    /// Init Duration, reported on the first invocation only.
    init_ms: Mutex<Option<f64>>,
    pub last_used: Mutex<Instant>,
    /// Requests it serves at once: 1 for a Lambda runtime, more in web mode.
    pub capacity: u32,
    /// Requests it is serving (changed under its pool's lock).
    in_use: AtomicU32,
    /// Counted out of its pool.
    gone: AtomicBool,
}

/// What one invocation on an instance produced (END/REPORT come with its checkout).
pub(crate) struct Ran {
    pub result: Result<Bytes, FunctionError>,
    pub death: Option<Death>,
    /// Set when the runtime streams its response: the invocation goes on.
    pub stream: Option<crate::runtime_api::Streamed>,
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(libc::SIGKILL) => "signal: killed".into(),
        Some(libc::SIGTERM) => "signal: terminated".into(),
        Some(libc::SIGSEGV) => "signal: segmentation fault".into(),
        Some(libc::SIGABRT) => "signal: aborted".into(),
        Some(s) => format!("signal: {s}"),
        None => "unknown exit".into(),
    }
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Instance {
    /// Spawns an instance and waits for its first `/next`. On failure the error is the
    /// init error to return to the waiting caller, with the init log lines written.
    pub async fn start(spec: &StartSpec, provisioned: bool) -> Result<Arc<Self>, FunctionError> {
        let begun = Instant::now();
        let id: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let fail = |msg: String| FunctionError::platform("Runtime.Unknown", msg);

        let (front, init_rx, mut env, argv) = match &spec.web {
            None => {
                let (api, dispatch, init_rx) = RuntimeApi::new(spec.max_response);
                let std_listener =
                    std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                        .map_err(|e| fail(format!("could not bind a Runtime API listener: {e}")))?;
                let port = std_listener.local_addr().map(|a| a.port()).unwrap_or(0);
                std_listener
                    .set_nonblocking(true)
                    .map_err(|e| fail(e.to_string()))?;
                let listener = tokio::net::TcpListener::from_std(std_listener)
                    .map_err(|e| fail(e.to_string()))?;
                tokio::spawn(api.clone().serve(listener));
                let mut env = spec.launch.env.clone();
                env.push(("AWS_LAMBDA_RUNTIME_API".into(), format!("127.0.0.1:{port}")));
                (
                    Front::Runtime { api, dispatch },
                    Some(init_rx),
                    env,
                    spec.launch.argv.clone(),
                )
            }
            Some(_) => {
                let port = web::free_port().map_err(|e| fail(format!("no free port: {e}")))?;
                let mut env = spec.launch.env.clone();
                env.push(("PORT".into(), port.to_string()));
                let argv = web::substitute_port(&spec.launch.argv, port);
                (Front::Web(web::WebTarget::new(port)), None, env, argv)
            }
        };
        let (read_end, write_end) = sandbox::pipe().map_err(|e| fail(e.to_string()))?;
        env.push((
            "AWS_LAMBDA_LOG_STREAM_NAME".into(),
            format!(
                "{}/[{}]{id}",
                chrono::Utc::now().format("%Y/%m/%d"),
                spec.version
            ),
        ));
        let init_type = if provisioned {
            "provisioned-concurrency"
        } else {
            "on-demand"
        };
        env.push(("AWS_LAMBDA_INITIALIZATION_TYPE".into(), init_type.into()));

        let cgroup_dir = spec.cgroups.as_ref().map(|root| root.dir(&id));
        let spawned = match sandbox::command(&argv, &spec.code_dir, &env, write_end) {
            Ok(cmd) => launcher::spawn(cmd, cgroup_dir, spec.reaper.clone()).await,
            Err(e) => Err(e),
        };
        let (mut child, tracked) = match spawned {
            Ok(c) => c,
            Err(e) => {
                front.close();
                return Err(FunctionError::platform(
                    "Runtime.InvalidEntrypoint",
                    format!(
                        "Couldn't start the runtime: {}: {e}",
                        argv.first().map(String::as_str).unwrap_or("")
                    ),
                ));
            }
        };
        let pgid = tracked.pgid;
        let capture = Capture::new(
            read_end,
            spec.sink.clone(),
            spec.function.clone(),
            spec.version.clone(),
            id.clone(),
        )
        .map_err(|e| fail(e.to_string()))?;
        tokio::spawn(capture.clone().run());

        let limit_bytes = u64::from(spec.memory_mb) * 1024 * 1024;
        let mem = Arc::new(Watched {
            pgid,
            limit_bytes,
            peak_bytes: AtomicU64::new(0),
            oom_killed: AtomicBool::new(false),
            cgroup: Mutex::new(None),
            exited: AtomicBool::new(false),
        });
        if let Some(root) = spec.cgroups.clone() {
            // Moving a process into a v1 cgroup waits for an RCU grace period (~10 ms
            // here): done beside the cold start, not in it. Until it lands, the
            // watchdog enforces the limit.
            let (mem, id) = (mem.clone(), id.clone());
            tokio::task::spawn_blocking(move || match root.attach(&id, limit_bytes, pgid) {
                Ok(cg) => mem.adopt(cg),
                Err(e) => {
                    tracing::debug!(error = %e, "no cgroup for instance; the watchdog limits it")
                }
            });
        }
        spec.memwatch.watch(&mem);

        let (exit_tx, exit_rx) = watch::channel(None);
        {
            let (front, mem, reaper) = (front.clone(), mem.clone(), spec.reaper.clone());
            tokio::spawn(async move {
                let status = child.wait().await;
                // Stragglers in the group (and any daemon in the cgroup) go with it.
                kill_group(pgid, libc::SIGKILL);
                if let Some(r) = reaper {
                    launcher::forget(tracked, r);
                }
                front.close();
                // Judge OOM before anyone is told of the exit, while the cgroup is here.
                mem.exited.store(true, std::sync::atomic::Ordering::SeqCst);
                let cg = mem.cgroup.lock().take();
                if let Some(c) = &cg {
                    if c.oom_killed() {
                        mem.oom_killed
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                let _ = exit_tx.send(Some(status.map(describe).unwrap_or_else(|e| e.to_string())));
                if cg.is_some() {
                    tokio::task::spawn_blocking(move || drop(cg));
                }
            });
        }

        let inst = Arc::new(Self {
            id,
            pgid,
            front,
            exit: exit_rx,
            capture,
            mem,
            init_ms: Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
            capacity: spec
                .web
                .as_ref()
                .map_or(1, |w| w.instance_concurrency.max(1)),
            // Its starter holds the first slot.
            in_use: AtomicU32::new(1),
            gone: AtomicBool::new(false),
        });
        let init_ms = match init_rx {
            Some(rx) => inst.await_init(rx, begun, spec).await?,
            None => inst.await_ready(begun, spec).await?,
        };
        // A pre-warmed instance's init was nobody's wait: no Init Duration, as in Lambda.
        if !provisioned {
            *inst.init_ms.lock() = Some(init_ms);
        }
        Ok(inst)
    }

    async fn await_init(
        &self,
        init_rx: oneshot::Receiver<InitSignal>,
        begun: Instant,
        spec: &StartSpec,
    ) -> Result<f64, FunctionError> {
        let mut exit = self.exit.clone();
        let outcome = tokio::select! {
            biased;
            s = init_rx => s.ok(),
            _ = exit.wait_for(Option::is_some) => None,
            _ = tokio::time::sleep(spec.init_timeout) => {
                self.kill();
                let secs = spec.init_timeout.as_secs_f64();
                self.capture.platform(format!("INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: timeout", secs * 1000.0));
                return Err(FunctionError::platform(
                    "Sandbox.Timedout",
                    format!("Init timed out after {secs:.2} seconds (init_timeout)"),
                ));
            }
        };
        match outcome {
            Some(InitSignal::Ready) => {
                self.mem.sample_leader();
                Ok(begun.elapsed().as_secs_f64() * 1000.0)
            }
            Some(InitSignal::Failed { error_type, body }) => {
                self.kill();
                let text = String::from_utf8_lossy(&body).into_owned();
                self.capture.platform(format!("INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: error\tError Type: {error_type}", begun.elapsed().as_secs_f64() * 1000.0));
                let body = if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
                    body
                } else {
                    FunctionError::platform(&error_type, text).body
                };
                Err(FunctionError { error_type, body })
            }
            None => {
                let why = self
                    .exit
                    .borrow()
                    .clone()
                    .unwrap_or_else(|| "exited".into());
                self.capture.drain();
                let (kind, msg) = if self.mem.was_oom_killed() {
                    (
                        "Runtime.OutOfMemory",
                        format!(
                            "Runtime exited with error: {why} (out of memory: over memory_mb={})",
                            spec.memory_mb
                        ),
                    )
                } else {
                    (
                        "Runtime.ExitError",
                        format!("Runtime exited with error: {why}"),
                    )
                };
                Err(FunctionError::platform(kind, msg))
            }
        }
    }

    /// Runs one invocation. Lines from START on belong to `request_id`.
    pub async fn invoke(&self, req: InvokeRequest, request_id: Arc<str>, spec: &StartSpec) -> Ran {
        self.capture.begin(request_id.clone(), req.want_log_tail);
        // `begin` just read the pipe: START needs no second read.
        self.capture
            .platform_now(report::start(&request_id, &spec.version));
        let (tx, rx) = oneshot::channel();
        let dispatched = match &self.front {
            Front::Runtime { dispatch, .. } => dispatch
                .try_send(Dispatch {
                    request_id: request_id.clone(),
                    deadline_ms: epoch_ms() + spec.timeout_ms,
                    invoked_arn: req.invoked_arn,
                    payload: req.payload,
                    client_context: req.client_context,
                    cognito_identity: req.cognito_identity,
                    trace_id: req.trace_id,
                    reply: tx,
                })
                .map_err(|_| ()),
            // Engine::invoke refuses web functions before this point.
            Front::Web(_) => Err(()),
        };
        let mut exit = self.exit.clone();
        let mut streamed = None;
        let (result, death) = if dispatched.is_err() {
            self.crashed(&request_id, spec)
        } else {
            tokio::select! {
                biased;
                r = rx => match r {
                    Ok(Reply::Stream(s)) => {
                        streamed = Some(s);
                        (Ok(Bytes::new()), None)
                    }
                    Ok(reply) => (self.map_reply(reply, spec), None),
                    Err(_) => self.crashed(&request_id, spec),
                },
                _ = exit.wait_for(Option::is_some) => self.crashed(&request_id, spec),
                _ = tokio::time::sleep(Duration::from_millis(spec.timeout_ms)) => {
                    self.kill();
                    self.capture.platform(report::timed_out(&request_id, spec.timeout_ms));
                    let msg = format!("RequestId: {request_id} Error: Task timed out after {:.2} seconds", spec.timeout_ms as f64 / 1000.0);
                    (Err(FunctionError::platform("Sandbox.Timedout", msg)), Some(Death::Timeout))
                }
            }
        };
        Ran {
            result,
            death,
            stream: streamed,
        }
    }

    fn map_reply(&self, reply: Reply, spec: &StartSpec) -> Result<Bytes, FunctionError> {
        match reply {
            Reply::Response(b) => Ok(b),
            Reply::Error { error_type, body } => Err(FunctionError { error_type, body }),
            Reply::TooLarge => {
                let msg = format!(
                    "Response payload size exceeded maximum allowed payload size ({} bytes). Raise the function's max_response_bytes to return more.",
                    spec.max_response
                );
                self.capture.platform(msg.clone());
                Err(FunctionError::platform(
                    "Function.ResponseSizeTooLarge",
                    msg,
                ))
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

    fn crashed(
        &self,
        request_id: &str,
        spec: &StartSpec,
    ) -> (Result<Bytes, FunctionError>, Option<Death>) {
        let why = self
            .exit
            .borrow()
            .clone()
            .unwrap_or_else(|| "exited".into());
        if self.mem.was_oom_killed() {
            let msg = format!("RequestId: {request_id} Error: Runtime exited with error: {why} (out of memory: the instance exceeded memory_mb={}; raise memory_mb)", spec.memory_mb);
            self.capture.platform(msg.clone());
            (
                Err(FunctionError::platform("Runtime.OutOfMemory", msg)),
                Some(Death::OutOfMemory),
            )
        } else {
            let msg = format!("RequestId: {request_id} Error: Runtime exited with error: {why}");
            self.capture.platform(msg.clone());
            (
                Err(FunctionError::platform("Runtime.ExitError", msg)),
                Some(Death::Crash),
            )
        }
    }

    /// The Init Duration, once: only the request that waited for it reports it.
    pub fn take_init_ms(&self) -> Option<f64> {
        self.init_ms.lock().take()
    }

    /// Takes a request slot; true when that filled the instance.
    pub fn take_slot(&self) -> bool {
        self.in_use.fetch_add(1, Ordering::SeqCst) + 1 >= self.capacity
    }

    /// Returns a request slot; the slots still in use.
    pub fn give_slot_back(&self) -> u32 {
        self.in_use.fetch_sub(1, Ordering::SeqCst).saturating_sub(1)
    }

    pub fn in_use(&self) -> u32 {
        self.in_use.load(Ordering::SeqCst)
    }

    /// Marks it counted out of its pool; true the first time only.
    pub fn mark_gone(&self) -> bool {
        !self.gone.swap(true, Ordering::SeqCst)
    }

    pub fn kill(&self) {
        kill_group(self.pgid, libc::SIGKILL);
    }

    pub fn is_alive(&self) -> bool {
        self.exit.borrow().is_none()
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the process is gone.
    pub async fn stop(&self, grace: Duration) {
        if !self.is_alive() {
            return;
        }
        kill_group(self.pgid, libc::SIGTERM);
        let mut exit = self.exit.clone();
        if tokio::time::timeout(grace, exit.wait_for(Option::is_some))
            .await
            .is_err()
        {
            self.kill();
            let _ = exit.wait_for(Option::is_some).await;
        }
        self.front.close();
    }
}
