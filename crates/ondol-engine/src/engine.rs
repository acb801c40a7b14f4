//! The engine, the crate's facade: deploys and removes pools, resolves a request's
//! target once and runs it (invoke, stream or proxy), warms versions ahead of
//! traffic, and drains on shutdown. Capacity lives in `node`, pools in `pools`.

mod offered;
mod views;

pub use offered::RuntimeOffer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ondol_core::{
    Arn, FunctionConfig, FunctionError, InvokeError, InvokeOutcome, InvokeRequest, LogSink,
};

use crate::budget::host_memory_mb;
use crate::front::ProxyBody;
use crate::instance::Instance;
use crate::invoke::{self, Run};
use crate::jail::{self, Jail, SandboxMode};
use crate::memwatch::MemWatch;
use crate::metrics::inc;
use crate::node::{Node, STOP_GRACE};
use crate::pool::Pool;
use crate::pools::{scale, Pools};
use crate::proxy::{self, ProxyError, ProxyOutcome};
use crate::reaper::Reaper;
use crate::routing::{AliasRoute, Routes};
use crate::runtimes::Runtimes;
use crate::sandbox::CgroupRoot;
use crate::spec::StartSpec;
use crate::target::Target;
use http::Request;

pub use crate::metrics::PoolView as PoolStats;

/// Node-level settings.
pub struct EngineConfig {
    /// Where the built-in bootstraps are written (`<data-dir>`).
    pub data_dir: PathBuf,
    pub arn: Arn,
    /// Node memory budget in MB; default 80 % of host RAM.
    pub memory_budget_mb: Option<u64>,
    pub log_sink: Arc<dyn LogSink>,
    /// How often the memory watchdog samples (default 100 ms).
    pub memwatch_interval: Duration,
    /// Limit instance memory with cgroups where the host allows (default true).
    pub use_cgroups: bool,
    /// The program run as `<exe> reap <data-dir>` to kill the instances of a dead
    /// server (the ondol binary); default none: instances then die with the server
    /// only by their leader's parent-death signal.
    pub reaper_exe: Option<PathBuf>,
    /// Whether instances start in a sandbox (default: when the host allows).
    pub sandbox: SandboxMode,
    /// The uids (and gids) functions get theirs from, inclusive.
    pub sandbox_uids: (u32, u32),
    /// The operator's runtime mappings (`--runtime python3.12=/opt/py/bin/python3`).
    pub runtime_overrides: ondol_core::runtimes::Overrides,
}

impl EngineConfig {
    pub fn new(data_dir: PathBuf, log_sink: Arc<dyn LogSink>) -> Self {
        Self {
            data_dir,
            arn: Arn::default(),
            memory_budget_mb: None,
            log_sink,
            memwatch_interval: Duration::from_millis(100),
            use_cgroups: true,
            reaper_exe: None,
            sandbox: SandboxMode::Auto,
            sandbox_uids: (200_000, 265_535),
            runtime_overrides: Default::default(),
        }
    }
}

/// A function version to run: its configuration and unpacked code.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub config: FunctionConfig,
    pub version: String,
    pub code_dir: PathBuf,
    /// The function's stable sandbox number: its uid is the range's first plus it.
    pub sandbox_slot: u32,
    /// Its layers merged, read-only: `/opt` in the sandbox (or this path without one).
    pub opt_dir: Option<PathBuf>,
}

struct Inner {
    pools: Arc<Pools>,
    routes: Routes,
    node: Arc<Node>,
    memwatch: Arc<MemWatch>,
    cgroups: Option<CgroupRoot>,
    reaper: Option<Arc<Reaper>>,
    runtimes: Runtimes,
    jail: Option<Jail>,
    sink: Arc<dyn LogSink>,
    arn: Arn,
    shutting_down: Arc<AtomicBool>,
}

/// Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Starts the engine: bootstraps installed, watchdog and reaper running.
    pub fn start(cfg: EngineConfig) -> std::io::Result<Self> {
        let runtimes = Runtimes::install(&cfg.data_dir, cfg.runtime_overrides.clone())?;
        let budget_mb = cfg
            .memory_budget_mb
            .unwrap_or_else(|| host_memory_mb() * 8 / 10);
        let cgroups = if cfg.use_cgroups {
            CgroupRoot::detect()
        } else {
            None
        };
        match &cgroups {
            Some(c) => tracing::info!(?c, "instance memory limited by cgroup"),
            None => tracing::info!(
                "no writable memory cgroup: instance memory limited by the RSS watchdog"
            ),
        }
        let jail = jail::open(
            cfg.sandbox,
            &cfg.data_dir,
            &runtimes.dir,
            cfg.sandbox_uids,
            cgroups.as_ref(),
        )?;
        // Before any instance starts: this also kills a previous run's leftovers.
        let orphan_reaper = match &cfg.reaper_exe {
            Some(exe) => Some(Arc::new(Reaper::start(exe, &cfg.data_dir)?)),
            None => None,
        };
        let inner = Arc::new(Inner {
            pools: Arc::default(),
            routes: Routes::default(),
            node: Node::new(budget_mb),
            memwatch: MemWatch::start(cfg.memwatch_interval),
            cgroups,
            reaper: orphan_reaper,
            runtimes,
            jail,
            sink: cfg.log_sink,
            arn: cfg.arn,
            shutting_down: Arc::default(),
        });
        tokio::spawn(scale(
            Arc::downgrade(&inner.pools),
            inner.node.clone(),
            inner.shutting_down.clone(),
        ));
        // Resolve interpreters now so the first cold start doesn't pay for it.
        let warm = inner.clone();
        tokio::spawn(async move {
            let web = ondol_core::FunctionConfig::new("-", "web");
            let _ = warm.runtimes.interpreters_of(&web).await;
            let _ = warm.runtimes.interpreters.offered().await;
        });
        Ok(Self { inner })
    }

    /// Installs (or replaces) the pool of one function version. A replaced pool's
    /// idle instances stop now and busy ones when they finish.
    pub async fn deploy(&self, spec: FunctionSpec) -> Result<(), String> {
        let inner = &self.inner;
        let sandboxed = inner.jail.is_some();
        let mut launch = inner
            .runtimes
            .launch(
                &spec.config,
                &spec.version,
                &spec.code_dir,
                &inner.arn,
                sandboxed,
            )
            .await?;
        if let Some(host) = &spec.opt_dir {
            let opt = if sandboxed {
                Path::new(crate::layers::OPT)
            } else {
                host.as_path()
            };
            crate::layers::extend(&mut launch, &spec.config, opt);
        }
        let jail = match &inner.jail {
            Some(j) => Some(Arc::new(j.plan_for(&inner.runtimes, &spec).await?)),
            None => None,
        };
        let cfg = &spec.config;
        let isolated_network = cfg.network == ondol_core::Network::None;
        if isolated_network && jail.is_none() {
            return Err(format!(
                "function {} is set to no network (Ondol.Network \"none\"), which only the sandbox can give, and this server has none (--sandbox off, or not root)",
                cfg.name
            ));
        }
        let start = StartSpec {
            launch,
            code_dir: spec.code_dir.clone(),
            function: cfg.name.as_str().into(),
            version: spec.version.as_str().into(),
            memory_mb: cfg.memory_mb,
            timeout_ms: cfg.timeout_ms,
            init_timeout: Duration::from_millis(cfg.limits.init_timeout_ms),
            slow_init: Duration::from_millis(cfg.limits.slow_init_ms),
            max_response: cfg.limits.max_response_bytes,
            sink: inner.sink.clone(),
            memwatch: inner.memwatch.clone(),
            cgroups: inner.cgroups.clone(),
            reaper: inner.reaper.clone(),
            web: cfg.web.clone(),
            jail,
            isolated_network,
        };
        let pool = Pool::new(start, cfg.limits.clone(), inner.node.clone());
        let old = inner.pools.insert(&cfg.name, &spec.version, pool);
        if let Some(old) = old {
            self.retire(&old);
        }
        Ok(())
    }

    /// Changes a version's concurrency limit and warm floor without restarting it.
    pub fn set_limits(&self, name: &str, version: &str, max_concurrency: u32, min_warm: u32) {
        if let Some(p) = self.pool(name, version) {
            for inst in p.set_limits(max_concurrency, min_warm) {
                self.inner.node.stop_later(inst);
            }
        }
    }

    /// Sets which qualifiers of `name` are invocable: its versions and its aliases.
    pub fn set_routing(
        &self,
        name: &str,
        versions: std::collections::HashSet<String>,
        aliases: HashMap<String, AliasRoute>,
    ) {
        self.inner.routes.set(name, versions, aliases);
    }

    /// The version `name:qualifier` runs now (a weighted alias picks by weight).
    pub fn pick(&self, name: &str, qualifier: Option<&str>) -> Option<String> {
        self.inner.routes.pick(name, qualifier)
    }

    /// Removes one version's pool, or every version of the function.
    pub fn remove(&self, name: &str, version: Option<&str>) {
        if version.is_none() {
            self.inner.routes.remove(name);
        }
        let removed = self.inner.pools.remove(name, version);
        for p in removed {
            self.retire(&p);
        }
    }

    fn retire(&self, pool: &Arc<Pool>) {
        for inst in pool.retire() {
            self.inner.node.stop_later(inst);
        }
    }

    fn pool(&self, name: &str, version: &str) -> Option<Arc<Pool>> {
        self.inner.pools.get(name, version)
    }

    /// Runs one synchronous invocation of `name` at `version`; a streamed response
    /// is read whole.
    pub async fn invoke(
        &self,
        name: &str,
        version: &str,
        req: InvokeRequest,
    ) -> Result<InvokeOutcome, InvokeError> {
        match self.invoke_stream(name, version, req).await? {
            Run::Done(out) => Ok(out),
            Run::Streaming(s) => Ok(InvokeOutcome {
                request_id: s.request_id,
                executed_version: s.executed_version,
                result: crate::stream::collect(s.body).await,
                log_tail: None,
                cold_start: s.cold_start,
                duration_ms: 0.0,
                phases: None,
            }),
        }
    }

    /// The target of a request to `name:qualifier`, resolved once: the version
    /// routing picks and its pool. `None` if the function or qualifier doesn't exist.
    pub fn resolve(&self, name: &str, qualifier: Option<&str>) -> Option<Target> {
        let version = self.inner.routes.pick(name, qualifier)?;
        self.target(name, &version)
    }

    /// The target `name` at `version`, if deployed.
    pub fn target(&self, name: &str, version: &str) -> Option<Target> {
        self.pool(name, version).map(|pool| Target { pool })
    }

    /// Runs one invocation; a runtime that streams its response is handed back as
    /// a stream (the instance is held until it ends).
    pub async fn invoke_stream(
        &self,
        name: &str,
        version: &str,
        req: InvokeRequest,
    ) -> Result<Run, InvokeError> {
        if self.inner.shutting_down.load(SeqCst) {
            return Err(InvokeError::ShuttingDown);
        }
        let not_found = || InvokeError::NotFound(format!("{name}:{version}"));
        let target = self.target(name, version).ok_or_else(not_found)?;
        self.invoke_to(&target, req).await
    }

    /// [`Engine::invoke_stream`] to a resolved target.
    pub async fn invoke_to(&self, target: &Target, req: InvokeRequest) -> Result<Run, InvokeError> {
        if self.inner.shutting_down.load(SeqCst) {
            return Err(InvokeError::ShuttingDown);
        }
        let guard = self.inner.node.begin();
        let name = target.function().to_string();
        if target.is_web() {
            return Err(InvokeError::WrongMode(format!(
                "function '{name}' runs in web mode: call it over HTTP through the front door"
            )));
        }
        let (size, limit) = (req.payload.len() as u64, target.request_limit());
        if size > limit {
            inc(&self.inner.node.metrics.payload_too_large);
            return Err(InvokeError::RequestTooLarge {
                size,
                limit,
                function: name,
            });
        }
        let engine = self.clone();
        let mut pool = target.pool.clone();
        // A task of its own: a caller that goes away never strands an instance.
        let task = tokio::spawn(async move {
            let _guard = guard;
            loop {
                if let Some(outcome) = invoke::run(&pool, req.clone()).await? {
                    return Ok(outcome);
                }
                // Retired by a redeploy: the same version's new pool.
                let version = pool.spec.version.clone();
                pool = engine
                    .pool(&name, &version)
                    .ok_or_else(|| InvokeError::NotFound(format!("{name}:{version}")))?;
            }
        });
        task.await.unwrap_or(Err(InvokeError::ShuttingDown))
    }

    /// Sends an HTTP request to a web-mode function's instances. `timeout` bounds the
    /// wait for response headers (default: the function's timeout).
    pub async fn proxy(
        &self,
        name: &str,
        version: &str,
        req: Request<ProxyBody>,
        timeout: Option<Duration>,
    ) -> Result<ProxyOutcome, ProxyError> {
        if self.inner.shutting_down.load(SeqCst) {
            return Err(ProxyError::Refused(InvokeError::ShuttingDown));
        }
        let not_found = || ProxyError::Refused(InvokeError::NotFound(format!("{name}:{version}")));
        let target = self.target(name, version).ok_or_else(not_found)?;
        self.proxy_to(&target, req, timeout).await
    }

    /// [`Engine::proxy`] to a resolved target.
    pub async fn proxy_to(
        &self,
        target: &Target,
        req: Request<ProxyBody>,
        timeout: Option<Duration>,
    ) -> Result<ProxyOutcome, ProxyError> {
        if self.inner.shutting_down.load(SeqCst) {
            return Err(ProxyError::Refused(InvokeError::ShuttingDown));
        }
        let (name, version) = (target.function(), target.version());
        if !target.is_web() {
            return Err(ProxyError::Refused(InvokeError::WrongMode(format!(
                "function '{name}' is a Lambda function: it takes events, not HTTP"
            ))));
        }
        let not_found = || ProxyError::Refused(InvokeError::NotFound(format!("{name}:{version}")));
        let mut pool = target.pool.clone();
        let timeout = timeout.unwrap_or(Duration::from_millis(pool.spec.timeout_ms));
        let mut req = Some(req);
        loop {
            if let Some(out) = proxy::send(&pool, &mut req, timeout).await? {
                return Ok(out);
            }
            pool = self.pool(name, version).ok_or_else(not_found)?;
        }
    }

    /// Starts `count` instances of a version ahead of traffic and waits until they
    /// are ready; the first init failure is returned (warm before switch).
    pub async fn warm(&self, name: &str, version: &str, count: u32) -> Result<(), FunctionError> {
        let pool = self.pool(name, version).ok_or_else(|| {
            FunctionError::platform(
                "ResourceNotFound",
                format!("{name}:{version} is not deployed"),
            )
        })?;
        let ready = pool.view().ready;
        let starts: Vec<_> = (ready..count)
            .map(|_| {
                let p = pool.clone();
                tokio::spawn(async move { p.warm_one().await })
            })
            .collect();
        let mut first_error = None;
        for s in starts {
            if let Ok(Err(e)) = s.await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops a version's idle instances now (its traffic moved to another version);
    /// busy ones finish their work first. The version stays invocable.
    pub fn drain_version(&self, name: &str, version: &str) {
        if let Some(p) = self.pool(name, version) {
            for inst in p.drain_idle() {
                self.inner.node.stop_later(inst);
            }
        }
    }

    /// Drains: no new invocations, in-flight ones get up to `grace`, then every
    /// instance gets SIGTERM and, after a short wait, SIGKILL.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.shutting_down.store(true, SeqCst);
        let deadline = Instant::now() + grace;
        while inner.node.inflight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pools = inner.pools.drain();
        for p in &pools {
            p.retire();
        }
        let all: Vec<Arc<Instance>> = inner.node.take_instances();
        let stops = all.iter().map(|i| i.stop(STOP_GRACE));
        futures_join_all(stops).await;
    }
}

/// Awaits every future (a tiny join_all without the futures crate).
async fn futures_join_all<F: std::future::Future<Output = ()>>(futs: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    for f in set {
        f.await;
    }
}
