//! `registry-api`: serve the MCP Registry API. This bootstrap is the one place that may start the worker
//! in-process: always on SQLite (single node), on PostgreSQL only with `--with-worker`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use registry_shared::bootstrap;
use registry_shared::config::{Config, StorageConfig};
use registry_shared::shutdown::{Shutdown, signal};

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

fn parse_address(raw: &str) -> Result<SocketAddr, String> {
    let full = if raw.starts_with(':') { format!("0.0.0.0{raw}") } else { raw.to_owned() };
    full.parse().map_err(|e| format!("{raw:?} is not HOST:PORT or :PORT ({e})"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    registry_shared::logging::init("info");
    let Command::Serve { config, address, with_worker } = Cli::parse().command;
    let config = Config::load(&config).map_err(|errors| {
        eprintln!("{errors}");
        std::process::exit(2)
    })?;
    let shutdown = Shutdown::when(signal());
    let embedded = with_worker || matches!(config.database, StorageConfig::Sqlite { .. });
    // One store for both: on SQLite, two would be two writers contending for one file.
    let store = bootstrap::open(&config).await.context("opening the database")?;
    let application = registry_api::Application::on_store(config.clone(), store.clone(), address).await?;
    let worker = embedded.then(|| tokio::spawn(registry_worker::run_on(config, store, shutdown.wait())));
    tracing::info!(address = %application.local_addr()?, worker = embedded, "registry-api listening");
    application.run_until(shutdown.wait()).await.context("registry-api failed")?;
    match worker {
        Some(worker) => {
            worker.await.context("the worker task panicked")?.context("the in-process worker failed")
        }
        None => Ok(()),
    }
}
