//! ondol's benchmarks. Each compares ondol with a baseline measured in the same
//! run, on the same machine, with the same client, and prints a Markdown table.
//!
//! `ondol-bench cold`: cold start end to end through the Invoke API, next to the
//! bare cost of starting the same runtime process until its first `/next`.
//! `ondol-bench warm`: warm invoke latency and throughput through the Invoke API,
//! next to a minimal hyper echo server.

mod client;
mod cold;
mod ondol;
mod stats;
mod stub;
mod warm;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Cold starts: ondol vs the bare runtime process.
    Cold {
        #[arg(long, default_value_t = 40)]
        runs: usize,
        #[arg(long, default_value = "target/release/ondol")]
        ondol: PathBuf,
    },
    /// Warm invokes: ondol vs a hyper echo server.
    Warm {
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value = "target/release/ondol")]
        ondol: PathBuf,
    },
    /// The baseline echo server (run by `warm` as a child process, and by
    /// `bench/gateway.sh` directly and in web mode). Port 0 picks one.
    EchoServer {
        #[arg(long, env = "PORT", default_value_t = 0)]
        port: u16,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.cmd {
            Cmd::Cold { runs, ondol } => cold::run(runs, &ondol).await,
            Cmd::Warm {
                seconds,
                concurrency,
                ondol,
            } => warm::run(seconds, concurrency, &ondol).await,
            Cmd::EchoServer { port } => warm::echo_server(port).await,
        }
    })
}
