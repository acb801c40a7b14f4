//! `ondol serve`: opens the store, restores functions, serves the management API
//! and the HTTP front door, and drains on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ondol_core::conn::ConnStats;
use ondol_core::Arn;
use ondol_engine::{Engine, EngineConfig, SandboxMode};
use ondol_store::{Blobs, SqliteStore, UnzipLimits};
use ondol_telemetry::{LogStore, LogStoreConfig};

use crate::datadir::{self, DataDirLock};
use crate::listener::{self, ConnLimits};
use crate::takeover::{self, Inherited};
use std::os::fd::OwnedFd;
use tokio::signal::unix::{signal, SignalKind};

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Where functions, code and logs are kept. `serve`: /var/lib/ondol as root,
    /// else ~/.local/share/ondol; `up` and `dev`: the project's ./.ondol.
    #[arg(long, env = "ONDOL_DATA_DIR", default_value = ".ondol")]
    pub data_dir: PathBuf,
    /// Management API address (Lambda-compatible). Loopback unless credentials are set.
    #[arg(long, env = "ONDOL_API", default_value = "127.0.0.1:9000")]
    pub api: SocketAddr,
    /// HTTP front door address.
    #[arg(long, env = "ONDOL_HTTP", default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Node memory budget for running instances, in MB (default: 80% of host RAM).
    #[arg(long, env = "ONDOL_MEMORY_BUDGET_MB")]
    pub memory_budget_mb: Option<u64>,
    /// How long in-flight invocations may run on shutdown before instances are stopped.
    #[arg(long, env = "ONDOL_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
    /// Region in ARNs.
    #[arg(long, env = "ONDOL_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Account id in ARNs.
    #[arg(long, env = "ONDOL_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,
    /// Days of function logs kept.
    #[arg(long, env = "ONDOL_LOG_RETENTION_DAYS", default_value_t = 7)]
    pub log_retention_days: u64,
    /// Access key id the management API requires requests to be signed with (SigV4).
    #[arg(long, env = "ONDOL_ACCESS_KEY_ID", requires = "secret_access_key")]
    pub access_key_id: Option<String>,
    /// Its secret. Prefer the environment variable: arguments are visible to `ps`.
    #[arg(
        long,
        env = "ONDOL_SECRET_ACCESS_KEY",
        hide_env_values = true,
        requires = "access_key_id"
    )]
    pub secret_access_key: Option<String>,
    /// Largest async (Event) payload accepted, in bytes.
    #[arg(long, env = "ONDOL_ASYNC_MAX_PAYLOAD", default_value_t = 1024 * 1024)]
    pub async_max_payload: u64,
    /// Share of each function's concurrency kept for synchronous calls when async
    /// events are delivered.
    #[arg(long, env = "ONDOL_ASYNC_SYNC_SHARE", default_value_t = 0.2)]
    pub async_sync_share: f64,
    /// First delay before an async retry; it doubles per attempt (at most 5 min).
    #[arg(long, env = "ONDOL_ASYNC_RETRY_BASE", default_value = "1s", value_parser = humantime::parse_duration)]
    pub async_retry_base: Duration,
    /// Limit instance memory with the RSS watchdog only, never a cgroup.
    #[arg(long, env = "ONDOL_NO_CGROUPS", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_cgroups: bool,
    /// Sandbox each instance: `auto` when the host allows (said at start),
    /// `require` refuses to start without it, `off` never.
    #[arg(long, env = "ONDOL_SANDBOX", default_value = "auto", value_parser = parse_sandbox)]
    pub sandbox: SandboxMode,
    /// Run a Lambda runtime on a given interpreter, or as an explicit alias of
    /// another: `python3.12=/opt/py312/bin/python3`, `python3.12=python3.11`.
    /// Repeat it, or separate with commas in ONDOL_RUNTIMES.
    #[arg(
        long = "runtime",
        env = "ONDOL_RUNTIMES",
        value_delimiter = ',',
        value_name = "RUNTIME=PATH|RUNTIME"
    )]
    pub runtimes: Vec<String>,
    /// The uids (and gids) functions get theirs from: `FIRST-LAST`.
    #[arg(long, env = "ONDOL_SANDBOX_UIDS", default_value = "200000-265535", value_parser = parse_uids)]
    pub sandbox_uids: (u32, u32),
    /// Size cap of the function log store, in MB.
    #[arg(long, env = "ONDOL_LOG_MAX_MB", default_value_t = 512)]
    pub log_max_mb: u64,
    /// How long a client may take to send a request's head (line and headers).
    #[arg(long, env = "ONDOL_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests.
    #[arg(long, env = "ONDOL_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// How long a request body may stall between two reads, or a client leave its
    /// response unread, before the connection is cut off.
    #[arg(long, env = "ONDOL_BODY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,
    /// Open connections per listener; past it new ones are closed at once (default
    /// 10000, lowered to fit the open-files limit).
    #[arg(long, env = "ONDOL_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = at_least_one)]
    pub max_connections: usize,
    /// The node's monthly budget for its AWS-equivalent cost (`ondol cost`), in USD:
    /// a warning in this log at 80 % and 100 %.
    #[arg(long, env = "ONDOL_BUDGET_USD")]
    pub budget_usd: Option<f64>,
    /// The AWS region `ondol cost` prices in (us-east-1, eu-west-1).
    #[arg(long, env = "ONDOL_COST_REGION", default_value = "us-east-1")]
    pub cost_region: String,
    /// Subtract AWS's monthly free tier in `ondol cost` and budgets.
    #[arg(long, env = "ONDOL_COST_FREE_TIER", value_parser = clap::builder::FalseyValueParser::new())]
    pub cost_free_tier: bool,
    /// Serve Prometheus metrics (`/metrics`) on their own address too (the
    /// management API always has them). Off loopback it needs --metrics-token.
    #[arg(long, env = "ONDOL_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// Bearer token the --metrics listener requires (`Authorization: Bearer TOKEN`).
    #[arg(long, env = "ONDOL_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The node's concurrency limit, as Lambda's account limit (GetAccountSettings
    /// `ConcurrentExecutions`): reserved and provisioned concurrency come out of it.
    #[arg(long, env = "ONDOL_CONCURRENCY_LIMIT", default_value_t = 1000)]
    pub concurrency_limit: u32,
    /// Concurrency no reservation may take (Lambda's minimum unreserved, 100).
    #[arg(long, env = "ONDOL_UNRESERVED_MIN", default_value_t = 100)]
    pub unreserved_min: u32,
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
    /// Front door error bodies name their cause (crash, timeout, size limit) and
    /// request id; off, they are API Gateway's and only `x-ondol-error` says the
    /// type. Default: on under `ondol dev` and `ondol up`, off for `serve`.
    #[arg(long, env = "ONDOL_EXPOSE_ERRORS", num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::FalseyValueParser::new())]
    pub expose_errors: Option<bool>,
    /// Take over from the server running on this data dir without dropping a
    /// request (an upgrade or restart): receive its listening sockets, restore and
    /// warm, then let it finish its in-flight work and exit. SIGHUP to a server
    /// starts this from the same binary path.
    #[arg(long)]
    pub takeover: bool,
}

/// A count that must be at least 1 (0 would refuse every connection).
fn at_least_one(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("must be at least 1: 0 would refuse every connection".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Server logs (and the access log) go to stderr through a writer thread: a
/// request never waits on a terminal or a pipe.
pub fn init_tracing() {
    use std::io::IsTerminal;
    static GUARD: std::sync::OnceLock<tracing_appender::non_blocking::WorkerGuard> =
        std::sync::OnceLock::new();
    let filter = tracing_subscriber::EnvFilter::try_from_env("ONDOL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .finish(std::io::stderr());
    if tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer)
        .try_init()
        .is_ok()
    {
        let _ = GUARD.set(guard);
    }
}

/// What ends a wait for a signal.
enum Wake {
    Stop(&'static str),
    Hangup,
    Handover(takeover::Handover),
}

/// A running server: its addresses, and what stopping it takes.
pub struct Running {
    pub api_url: String,
    engine: Engine,
    api: Arc<ondol_api::Api>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    /// Stops the management API, last: `/ondol/v1/ready` answers 503 while draining.
    api_stop_tx: tokio::sync::watch::Sender<bool>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    grace: Duration,
    logs: Arc<LogStore>,
    events: Arc<ondol_events::Events>,
    /// The listening sockets by name, for a successor (`ondol serve --takeover`).
    listener_fds: Vec<(String, OwnedFd)>,
    control: Option<takeover::Control>,
    data_dir: PathBuf,
    /// Released when the server is dropped (or its process dies).
    _lock: DataDirLock,
}

/// The connection bounds, the cap lowered so that both listeners together leave
/// room in the open-files limit for instances, pipes and the stores.
fn conn_limits(a: &Args) -> ConnLimits {
    let fds = datadir::raise_fd_limit();
    let fit = (fds.saturating_sub(512) / 3).max(16) as usize;
    if a.max_connections > fit {
        tracing::warn!(
            requested = a.max_connections, max_connections = fit, open_files_limit = fds,
            "connection cap lowered to fit the open-files limit (raise it with ulimit -n / LimitNOFILE)"
        );
    }
    ConnLimits {
        header_timeout: a.header_timeout,
        idle_timeout: a.idle_timeout,
        body_timeout: a.body_timeout,
        max_connections: a.max_connections.min(fit),
        refuse_uids: None,
    }
}

pub async fn run(a: Args) -> Result<ExitCode> {
    init_tracing();
    let mut running = start(a).await?;
    let fds = std::mem::take(&mut running.listener_fds);
    let control = takeover::Control::listen(&running.data_dir, fds, running.engine.clone())?;
    running.control = Some(control);
    running.wait_for_signal().await?;
    Ok(ExitCode::SUCCESS)
}

impl Running {
    /// Serves until SIGTERM or SIGINT, then drains; or until a successor takes
    /// over (SIGHUP starts one, when the control socket listens).
    pub async fn wait_for_signal(mut self) -> Result<()> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = match self.control {
            Some(_) => Some(signal(SignalKind::hangup())?),
            None => None,
        };
        let which = loop {
            let handover = async {
                match self.control.as_mut() {
                    Some(c) => c.next().await,
                    None => std::future::pending().await,
                }
            };
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            let woke = tokio::select! {
                _ = term.recv() => Wake::Stop("SIGTERM"),
                _ = int.recv() => Wake::Stop("SIGINT"),
                _ = hangup => Wake::Hangup,
                Some(h) = handover => Wake::Handover(h),
            };
            match woke {
                Wake::Stop(which) => break which,
                Wake::Hangup => {
                    if let Err(e) = takeover::reexec() {
                        tracing::error!(error = %format!("{e:#}"), "SIGHUP: could not start a new process; this one keeps serving");
                    }
                }
                Wake::Handover(h) => {
                    self.hand_over(h).await;
                    return Ok(());
                }
            }
        };
        tracing::info!(signal = which, grace = ?self.grace, "draining: no new work, finishing in-flight invocations");
        self.drain().await;
        Ok(())
    }

    /// Stops accepting, lets in-flight work finish within the grace period, stops
    /// every instance.
    pub async fn drain(self) {
        self.api.ready.draining();
        crate::notify::notify("STOPPING=1");
        let _ = self.stop_tx.send(true);
        self.finish().await;
    }

    /// Lets a successor accept: this process stops accepting and stops delivering
    /// events (queued ones stay in the store), then finishes as [`Running::drain`]
    /// does. The service manager hears RELOADING=1, not STOPPING=1: the service
    /// goes on in the successor.
    async fn hand_over(mut self, h: takeover::Handover) {
        tracing::info!(pid = h.pid, grace = ?self.grace, "handing over to the new process: no new work here, finishing in-flight work");
        self.api.ready.draining();
        crate::notify::notify("RELOADING=1");
        self.events.hold();
        let _ = self.stop_tx.send(true);
        let _ = self.api_stop_tx.send(true);
        let _ = tokio::task::spawn_blocking(move || h.stopped()).await;
        // Requests on connections accepted before the stop reach the engine
        // before it refuses new invocations.
        let servers = std::mem::take(&mut self.servers);
        let all = async {
            for s in servers {
                let _ = s.await;
            }
        };
        let _ = tokio::time::timeout(self.grace, all).await;
        if !self.events.quiesce(self.grace).await {
            tracing::warn!(
                "async deliveries still running after the grace: they will be delivered again"
            );
        }
        self.finish().await;
    }

    /// Waits for in-flight invocations (within the grace), stops every instance,
    /// flushes usage and logs, and stops the management API last.
    async fn finish(self) {
        self.engine.shutdown(self.grace).await;
        // Every accepted invocation has settled: its usage is kept.
        let api = self.api.clone();
        let _ = tokio::task::spawn_blocking(move || api.flush_usage()).await;
        // The last invocations' END and REPORT lines are still in the writer's batch.
        let logs = self.logs.clone();
        let _ = tokio::task::spawn_blocking(move || logs.flush(Duration::from_secs(5))).await;
        let _ = self.api_stop_tx.send(true);
        for server in self.servers {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        tracing::info!("stopped");
    }
}

/// Opens the store, restores functions and starts both listeners.
pub async fn start(a: Args) -> Result<Running> {
    let credentials =
        datadir::credentials(a.access_key_id.as_deref(), a.secret_access_key.as_deref())?;
    if !a.api.ip().is_loopback() && credentials.is_none() {
        bail!(
            "refusing to serve the management API on {} without credentials: anyone who reaches it could run code. \
             Set ONDOL_ACCESS_KEY_ID and ONDOL_SECRET_ACCESS_KEY (or --access-key-id/--secret-access-key): \
             every request must then be signed with them (SigV4), as the aws CLI and boto3 do.",
            a.api
        );
    }
    check_metrics_flags(&a)?;
    std::fs::create_dir_all(&a.data_dir)
        .with_context(|| format!("creating the data dir {}", a.data_dir.display()))?;
    // Instances run in their code directory: every path handed to them is absolute.
    let mut a = a;
    a.data_dir = std::fs::canonicalize(&a.data_dir)
        .with_context(|| format!("resolving the data dir {}", a.data_dir.display()))?;
    // A successor takes the sockets now and the lock once the old server lets go.
    let mut inherited = match a.takeover {
        true => Some(Inherited::connect(&a.data_dir)?),
        false => None,
    };
    let lock = match inherited {
        Some(_) => None,
        None => Some(datadir::lock(&a.data_dir)?),
    };
    let limits = conn_limits(&a);
    let db_path = a.data_dir.join(ondol_store::backup::DB_MEMBER);
    let store = SqliteStore::open(&db_path).context("opening the store")?;
    let blobs = Blobs::open(&a.data_dir, UnzipLimits::default()).context("opening code storage")?;
    let logs = LogStore::open(
        &a.data_dir.join("logs.db"),
        LogStoreConfig {
            retention: Duration::from_secs(a.log_retention_days * 86_400),
            max_bytes: a.log_max_mb * 1024 * 1024,
            ..Default::default()
        },
    )
    .context("opening the log store")?;
    let usage = ondol_telemetry::UsageStore::open(&a.data_dir.join("usage.db"))
        .context("opening the usage store")?;
    ondol_telemetry::cost::Prices::builtin()
        .region(&a.cost_region)
        .context("--cost-region")?;
    let mut cfg = EngineConfig::new(a.data_dir.clone(), logs.clone());
    cfg.arn = Arn {
        region: a.region.clone(),
        account: a.account_id.clone(),
    };
    cfg.memory_budget_mb = a.memory_budget_mb;
    cfg.use_cgroups = !a.no_cgroups;
    cfg.sandbox = a.sandbox;
    cfg.sandbox_uids = a.sandbox_uids;
    cfg.runtime_overrides =
        ondol_core::runtimes::parse_overrides(&a.runtimes).context("--runtime")?;
    // This binary, re-run as the reaper: instances never outlive this server.
    cfg.reaper_exe = Some(std::env::current_exe().context("locating the ondol binary")?);
    let engine = Engine::start(cfg).context("starting the engine")?;
    let api_listener = takeover::bind(
        &mut inherited,
        ("api", a.api),
        "management API",
        ("--api", "ONDOL_API"),
    )
    .await?;
    let http_listener = takeover::bind(
        &mut inherited,
        ("http", a.http),
        "HTTP front door",
        ("--http", "ONDOL_HTTP"),
    )
    .await?;
    let https_bound = match (a.tls.https, &mut inherited) {
        (Some(addr), Some(i)) => Some(i.tcp("https", addr, "HTTPS front door").await?),
        _ => None,
    };
    let gateway = ondol_gateway::Gateway::new(engine.clone(), a.expose_errors.unwrap_or(false));
    let (hosts_tx, hosts_rx) = tokio::sync::watch::channel(Default::default());
    let front = Arc::new(crate::tls::domains::ClaimedHosts {
        inner: gateway.clone(),
        tx: hosts_tx,
    });
    let mut https = crate::tls::Https::setup(&a.tls, &a.data_dir, hosts_rx, https_bound).await?;
    let (api_stats, http_stats, https_stats): (Arc<ConnStats>, Arc<ConnStats>, Arc<ConnStats>) =
        Default::default();
    let mut listeners = vec![("api", api_stats.clone()), ("http", http_stats.clone())];
    if https.listener.is_some() {
        listeners.push(("https", https_stats.clone()));
    }
    let store = Arc::new(store);
    let events = ondol_events::Events::start(
        store.clone(),
        store.clone(),
        engine.clone(),
        ondol_events::AsyncConfig {
            max_payload: a.async_max_payload,
            sync_share: a.async_sync_share.clamp(0.0, 1.0),
            retry_base: a.async_retry_base,
            ..Default::default()
        },
    );
    if inherited.is_some() {
        // The old server delivers until it hands over and lets go of the data dir.
        events.hold();
    }
    let scheduler = ondol_events::Scheduler::start(events.clone(), store.clone());
    anyhow::ensure!(
        a.unreserved_min <= a.concurrency_limit,
        "--unreserved-min ({}) cannot exceed --concurrency-limit ({})",
        a.unreserved_min,
        a.concurrency_limit
    );
    let api = ondol_api::Api::new(ondol_api::Parts {
        concurrency: ondol_api::NodeLimits {
            limit: a.concurrency_limit,
            unreserved_min: a.unreserved_min,
        },
        store: store.clone(),
        blobs: Arc::new(blobs),
        engine: engine.clone(),
        logs: logs.clone(),
        http: http_listener.local_addr()?,
        front,
        events: events.clone(),
        queue: store,
        scheduler,
        listeners,
        cost: ondol_api::CostConfig {
            usage,
            region: a.cost_region.clone(),
            free_tier: a.cost_free_tier,
            node_budget_usd: a.budget_usd,
        },
        front_stats: gateway.stats(),
        keys: gateway.keys(),
        data_dir: a.data_dir.clone(),
        db_path,
    });
    api.ready.store_open();
    // The API answers health and readiness during the restore; other requests
    // wait for it (`health::hold_until_restored`).
    let (api_stop_tx, api_stop_rx) = tokio::sync::watch::channel(false);
    let api_addr = api_listener.local_addr()?;
    let signed = if credentials.is_some() {
        "required"
    } else {
        "optional (loopback)"
    };
    let domains = crate::tls::domains::router(https.domains.clone());
    let api_router = ondol_api::router_with(
        api.clone(),
        ondol_api::Auth::new(credentials),
        vec![("/ondol/v1/domains", domains)],
    );
    let api_limits = ConnLimits {
        refuse_uids: engine.sandbox_uids(),
        ..limits
    };
    // A successor accepts nothing before the handover: its API would say not ready.
    let (go_tx, go_rx) = tokio::sync::watch::channel(inherited.is_none());
    let mut listener_fds = vec![("api".to_string(), takeover::dup(&api_listener)?)];
    let api_server = takeover::gated(
        go_rx.clone(),
        listener::serve(
            api_listener,
            "api",
            api_router,
            api_limits,
            api_stats,
            api_stop_rx,
            None,
        ),
    );
    tracing::info!(
        signatures = signed,
        "management API listening on http://{api_addr}"
    );
    let restored = api
        .restore()
        .await
        .map_err(anyhow::Error::msg)
        .context("restoring functions")?;
    api.ready.restored();
    let http_addr = http_listener.local_addr()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(api.clone().run_meter(stop_rx.clone()));
    let api_handle = api.clone();
    let metrics_api = api.clone();
    let mut servers = vec![api_server];
    if let Some(addr) = a.metrics {
        let l = takeover::bind(
            &mut inherited,
            ("metrics", addr),
            "metrics listener",
            ("--metrics", "ONDOL_METRICS"),
        )
        .await?;
        listener_fds.push(("metrics".to_string(), takeover::dup(&l)?));
        tracing::info!(
            token = a.metrics_token.is_some(),
            "Prometheus metrics listening on http://{}/metrics",
            l.local_addr()?
        );
        let router = ondol_api::metrics_router(metrics_api, a.metrics_token.clone());
        let (stats, stop) = (Arc::new(ConnStats::default()), stop_rx.clone());
        servers.push(takeover::gated(
            go_rx.clone(),
            listener::serve(l, "metrics", router, api_limits, stats, stop, None),
        ));
    }
    if let Some((l, acceptor)) = https.listener.take() {
        tracing::info!("HTTPS front door listening on https://{}", l.local_addr()?);
        let router = crate::tls::front::secure(gateway.router(), &https.front);
        let (stats, stop) = (https_stats, stop_rx.clone());
        listener_fds.push(("https".to_string(), takeover::dup(&l)?));
        servers.push(takeover::gated(
            go_rx.clone(),
            listener::serve(l, "https", router, limits, stats, stop, Some(acceptor)),
        ));
        https.start_acme(stop_rx.clone());
    }
    listener_fds.push(("http".to_string(), takeover::dup(&http_listener)?));
    servers.push(takeover::gated(
        go_rx,
        listener::serve(
            http_listener,
            "http",
            crate::tls::front::plain(gateway.router(), https.front.clone()),
            limits,
            http_stats,
            stop_rx,
            None,
        ),
    ));
    let lock = match (lock, inherited) {
        (Some(lock), _) => lock,
        (None, Some(inh)) => {
            takeover::take_over(
                inh,
                &api_handle,
                &go_tx,
                &events,
                &a.data_dir,
                a.shutdown_grace,
            )
            .await?
        }
        (None, None) => unreachable!("a server without a lock takes over"),
    };
    api_handle.ready.listeners_up();
    tracing::info!("HTTP front door listening on http://{http_addr}");
    tracing::info!(functions = restored, data_dir = %a.data_dir.display(), "ready");
    crate::notify::notify("READY=1");

    Ok(Running {
        api_url: format!("http://{api_addr}"),
        engine,
        api: api_handle,
        stop_tx,
        api_stop_tx,
        servers,
        grace: a.shutdown_grace,
        logs: logs.clone(),
        events,
        listener_fds,
        control: None,
        data_dir: a.data_dir.clone(),
        _lock: lock,
    })
}

/// A metrics listener off loopback must have a token: Prometheus does not sign.
fn check_metrics_flags(a: &Args) -> Result<()> {
    if a.metrics_token
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        bail!("--metrics-token is empty: give a token, or leave the flag out");
    }
    match a.metrics {
        Some(addr) if !addr.ip().is_loopback() && a.metrics_token.is_none() => bail!(
            "refusing to serve metrics on {addr} without --metrics-token: off loopback, \
             anyone who reaches it could read them. Set --metrics-token (or ONDOL_METRICS_TOKEN) \
             and give Prometheus the same as a bearer token."
        ),
        None if a.metrics_token.is_some() => {
            bail!(
                "--metrics-token needs --metrics ADDR (the management API's /metrics has no token)"
            )
        }
        _ => Ok(()),
    }
}

fn parse_sandbox(s: &str) -> Result<SandboxMode, String> {
    match s {
        "auto" => Ok(SandboxMode::Auto),
        "require" => Ok(SandboxMode::Require),
        "off" => Ok(SandboxMode::Off),
        _ => Err("expected auto, require or off".into()),
    }
}

/// `FIRST-LAST`, both above 0 (never root) and FIRST <= LAST.
fn parse_uids(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s.split_once('-').ok_or("expected FIRST-LAST")?;
    let first: u32 = a.trim().parse().map_err(|_| "FIRST is not a uid")?;
    let last: u32 = b.trim().parse().map_err(|_| "LAST is not a uid")?;
    if first == 0 || last < first || last >= u32::MAX - 1 {
        return Err("expected 0 < FIRST <= LAST < 4294967294".into());
    }
    Ok((first, last))
}
