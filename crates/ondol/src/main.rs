//! `ondol`: the server and its command-line client. One file per subcommand.

mod api;
mod bind;
mod build;
mod commands;
mod config;
mod datadir;
mod import;
mod listener;
mod names;
mod notify;
mod package;
mod progress;
mod rollout;
mod stall;
mod takeover;
mod tls;

use clap::{CommandFactory, FromArgMatches, Subcommand};

#[derive(clap::Parser)]
#[command(
    name = "ondol",
    version,
    about = "A self-hosted serverless platform with Lambda semantics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a server on the default store, deploy an app, and follow its logs.
    Up(commands::up::UpArgs),
    /// Serve and deploy an app, then redeploy it on every change.
    Dev(commands::dev::DevArgs),
    /// Run the server: the management API and the HTTP front door.
    Serve(commands::serve::Args),
    /// Deploy an app (ondol.toml) to a server; builds it first.
    Deploy(commands::deploy::Args),
    /// Install each function's dependencies and write its package to .ondol/build.
    Build(commands::build::Args),
    /// Write the ondol.toml of a Serverless, SAM or Zappa project.
    Import(commands::import::Args),
    /// An app's deploys: versions, who, when, outcome.
    History(commands::release::HistoryArgs),
    /// Put an app back on the versions of an earlier deploy.
    Rollback(commands::release::RollbackArgs),
    /// Take a stage of an app off the server, or with --everything the whole app.
    Remove(commands::remove::RemoveArgs),
    /// Invoke a function synchronously and print its result.
    Invoke(commands::invoke::Args),
    /// API keys for routes with `api_key_required`: create, list, revoke.
    Keys(commands::keys::Args),
    /// Print a function's logs.
    Logs(commands::logs::Args),
    /// What the traffic would cost on AWS (month to date, projected, budgets), or
    /// `cost estimate` for a what-if.
    Cost(commands::cost::Args),
    /// Inspect and re-drive async events that ran out of retries.
    Dlq(commands::dlq::Args),
    /// Copy a running server's functions, apps, schedules, queued events and code
    /// to one archive.
    Backup(commands::backup::BackupArgs),
    /// Restore an `ondol backup` archive into an empty data dir.
    Restore(commands::backup::RestoreArgs),
    /// List schedules with their next firing and recent runs.
    Schedules(commands::schedules::Args),
    /// Apps, routes, functions, instances, and the last 5 minutes and hour of each.
    #[command(alias = "ls")]
    Status(commands::status::Args),
    /// The Lambda runtimes the server offers, with the interpreter of each.
    Runtimes(commands::runtimes::Args),
    /// Each host the apps claim: does its DNS point here, its certificate issued / pending / failed.
    Domains(commands::domains::Args),
    /// Started by `serve`: kills the server's instances once it is gone.
    #[command(name = ondol_engine::REAPER_COMMAND, hide = true)]
    Reap {
        /// The server's data dir (its record of live instances is kept there).
        data_dir: std::path::PathBuf,
    },
}

/// ondol's own threads: `ONDOL_WORKERS`, else half the cores (at least one). The
/// functions' processes run on the same machine and do the real work; a proxy
/// thread per core only adds cross-thread wake-ups (measured in BENCHMARKS.md).
fn worker_threads() -> usize {
    std::env::var("ONDOL_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)))
}

fn main() -> std::process::ExitCode {
    let parsed = match config::parse(Cli::command()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let cli = Cli::from_arg_matches(&parsed.matches).unwrap_or_else(|e| e.exit());
    if let (Some(src), Command::Serve(a)) = (&parsed.serve, &cli.command) {
        if parsed
            .matches
            .subcommand_matches("serve")
            .is_some_and(|m| m.get_flag("print_config"))
        {
            print!("{}", src.print(&parsed.matches));
            return std::process::ExitCode::SUCCESS;
        }
        commands::serve::init_tracing();
        src.announce(&parsed.matches, &a.data_dir);
    }
    // The reaper is a plain blocking loop: no runtime, no threads.
    if let Command::Reap { data_dir } = &cli.command {
        return ondol_engine::run_reaper(data_dir);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .enable_all()
        .build()
        .expect("tokio runtime");
    let res = rt.block_on(async {
        match cli.command {
            Command::Up(a) => commands::up::run(a).await,
            Command::Dev(a) => commands::dev::run(a).await,
            Command::Serve(a) => commands::serve::run(a).await,
            Command::Deploy(a) => commands::deploy::run(a).await,
            Command::Build(a) => commands::build::run(a).await,
            Command::Import(a) => commands::import::run(a).await,
            Command::History(a) => commands::release::history(a).await,
            Command::Rollback(a) => commands::release::rollback(a).await,
            Command::Remove(a) => commands::remove::run(a).await,
            Command::Invoke(a) => commands::invoke::run(a).await,
            Command::Logs(a) => commands::logs::run(a).await,
            Command::Keys(a) => commands::keys::run(a).await,
            Command::Dlq(a) => commands::dlq::run(a).await,
            Command::Backup(a) => commands::backup::backup(a).await,
            Command::Restore(a) => commands::backup::restore(a).await,
            Command::Cost(a) => commands::cost::run(a).await,
            Command::Schedules(a) => commands::schedules::run(a).await,
            Command::Runtimes(a) => commands::runtimes::run(a).await,
            Command::Status(a) => commands::status::run(a).await,
            Command::Domains(a) => commands::domains::run(a).await,
            Command::Reap { .. } => unreachable!("handled before the runtime starts"),
        }
    });
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
