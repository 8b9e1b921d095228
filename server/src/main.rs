//! `registry-api`: serve the MCP Registry API, with the worker in-process on SQLite (single node) or with
//! `--with-worker`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use registry_shared::config::{Config, parse_address};
use registry_shared::shutdown;

#[derive(Parser)]
#[command(
    name = "registry-api",
    version,
    about = "Serve the MCP Registry API v0.1 and the registry extension API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP until SIGINT or SIGTERM.
    Serve {
        /// The YAML configuration file. `REGISTRY_*` environment variables override its keys.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Where to listen: HOST:PORT, or :PORT for every interface.
        #[arg(long, default_value = ":8080", value_parser = parse_address)]
        address: SocketAddr,
        /// Also run the sync worker in this process (always so on SQLite).
        #[arg(long)]
        with_worker: bool,
    },
}

fn main() -> anyhow::Result<()> {
    registry_shared::logging::init("info");
    let Command::Serve { config, address, with_worker } = Cli::parse().command;
    let config = Config::load(&config).map_err(|errors| {
        eprintln!("{errors}");
        std::process::exit(2)
    })?;
    registry_worker::sources::set_git_timeouts(config.worker.git_timeout);
    shutdown::block_on(registry_server::serve(config, address, with_worker, shutdown::signal()))
}
