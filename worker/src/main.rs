//! `registry-worker`: run the sync scheduler and job handlers.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use registry_runtime::config::Config;
use registry_runtime::shutdown;

/// A sync parses documents on one thread and serialises and frees them on another; glibc's allocator
/// serialises those cross-thread frees on a lock, mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "registry-worker",
    version,
    about = "Run the MCP Registry Server's sync scheduler and job handlers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Process sync jobs and schedule due registries until SIGINT or SIGTERM.
    Run {
        /// The YAML configuration file. `REGISTRY_*` environment variables override its keys.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let Command::Run { config } = Cli::parse().command;
    let config = Config::load(&config).map_err(|errors| {
        eprintln!("{errors}");
        std::process::exit(2)
    })?;
    let _telemetry = registry_runtime::logging::init_with("info", "registry-worker", &config.tracing);
    registry_worker::sources::set_git_timeouts(config.worker.git_timeout);
    let worker = registry_worker::run(config, async {
        shutdown::signal().await;
    });
    shutdown::block_on(worker).context("registry-worker failed")
}
