//! One instance: a process and its front. Starting it is the cold start: the front
//! opened (a Runtime API listener, or a port), the process spawned, then the wait
//! until the front says it is ready. Slots count the requests it serves.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ondol_core::{FunctionError, InvokeRequest};
use parking_lot::Mutex;

use crate::capture::Capture;
use crate::front::{Front, Opened, Ran};
use crate::memwatch::Watched;
use crate::phases::InitPhases;
use crate::process::Process;
use crate::report;
use crate::spec::StartSpec;
use crate::{lambda, web};

pub(crate) struct Instance {
    pub id: Arc<str>,
    pub(crate) front: Arc<dyn Front>,
    process: Process,
    pub(crate) capture: Arc<Capture>,
    pub(crate) mem: Arc<Watched>,
    /// Init Duration and its phases, reported on the first invocation only.
    init: Mutex<Option<(f64, InitPhases)>>,
    pub last_used: Mutex<Instant>,
    /// Requests it serves at once: 1 for a Lambda runtime, more in web mode.
    pub capacity: u32,
    /// Requests it is serving (changed under its pool's lock).
    in_use: AtomicU32,
    /// Counted out of its pool.
    gone: AtomicBool,
}

/// Opens the front the function's mode calls for.
async fn open_front(spec: &StartSpec) -> std::io::Result<Opened> {
    match &spec.web {
        None => lambda::open(spec).await,
        Some(_) => web::open(spec),
    }
}

/// The environment every instance gets on top of its runtime's and its front's.
fn lambda_env(spec: &StartSpec, id: &str, provisioned: bool) -> Vec<(String, String)> {
    let stream = format!(
        "{}/[{}]{id}",
        chrono::Utc::now().format("%Y/%m/%d"),
        spec.version
    );
    let init_type = if provisioned {
        "provisioned-concurrency"
    } else {
        "on-demand"
    };
    let mut env = vec![
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), stream),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), init_type.into()),
    ];
    // For the built-in Python runtime's watchdog, which takes it out of the
    // function's sight: when to report a slow init. Underscored like `_HANDLER`,
    // and no `ONDOL_` name: nothing of the server's reaches an instance.
    if spec
        .launch
        .argv
        .iter()
        .any(|a| a.contains("python/bootstrap."))
    {
        let ms = spec.slow_init.as_millis().to_string();
        env.push(("_SLOW_INIT_MS".into(), ms));
    }
    env
}

impl Instance {
    /// Spawns an instance and waits until it is ready. On failure the error is the
    /// init error to return to the waiting caller, with the init log lines written.
    pub async fn start(spec: &StartSpec, provisioned: bool) -> Result<Arc<Self>, FunctionError> {
        let begun = Instant::now();
        let id: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let mut opened = open_front(spec).await.map_err(|e| {
            FunctionError::platform("Runtime.Unknown", format!("could not open the front: {e}"))
        })?;
        let mut env = spec.launch.env.clone();
        env.extend(opened.env);
        env.extend(lambda_env(spec, &id, provisioned));
        let front = opened.front;
        let closer = front.clone();
        let on_exit = Box::new(move || closer.close());
        let netns = opened.netns.take();
        let process = match Process::spawn(spec, &id, &opened.argv, &env, netns, on_exit).await {
            Ok(p) => p,
            Err(e) => {
                front.close();
                let exe = opened.argv.first().map(String::as_str).unwrap_or("");
                return Err(FunctionError::platform(
                    "Runtime.InvalidEntrypoint",
                    format!("Couldn't start the runtime: {exe}: {e}"),
                )
                .because(ondol_core::Cause::Init));
            }
        };
        let spawned = process.spawned_at;
        process
            .capture
            .platform(report::init_start(&spec.launch.runtime_version));
        let inst = Arc::new(Self {
            id,
            capacity: front.capacity(),
            capture: process.capture.clone(),
            mem: process.mem.clone(),
            front,
            process,
            init: Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
            // Its starter holds the first slot.
            in_use: AtomicU32::new(1),
            gone: AtomicBool::new(false),
        });
        let init_ms = inst.front.ready(&inst.process, spec, begun).await?;
        let contact = inst.front.first_contact();
        let phases = InitPhases::measure(begun, spawned, contact, Instant::now());
        // A pre-warmed instance's init was nobody's wait: no Init Duration, as in Lambda.
        if !provisioned {
            *inst.init.lock() = Some((init_ms, phases));
        }
        Ok(inst)
    }

    /// Runs one invocation. Lines from START on belong to `request_id`.
    pub async fn invoke(&self, req: InvokeRequest, request_id: Arc<str>, spec: &StartSpec) -> Ran {
        self.capture.begin(request_id.clone(), req.want_log_tail);
        // `begin` just read the pipe: START needs no second read.
        self.capture
            .platform_now(report::start(&request_id, &spec.version));
        self.front
            .invoke(&self.process, req, request_id, spec)
            .await
    }

    /// The Init Duration and its phases, once: only the request that waited for
    /// it reports it.
    pub fn take_init(&self) -> Option<(f64, InitPhases)> {
        self.init.lock().take()
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
        self.process.kill();
    }

    pub fn is_alive(&self) -> bool {
        self.process.is_alive()
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the process is gone.
    pub async fn stop(&self, grace: Duration) {
        if !self.is_alive() {
            return;
        }
        self.process.stop(grace).await;
        self.front.close();
    }
}
