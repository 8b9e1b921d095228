//! `registry-api`: serve the MCP Registry API.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use registry_shared::config::Config;

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
    },
}

fn parse_address(raw: &str) -> Result<SocketAddr, String> {
    let full = if raw.starts_with(':') { format!("0.0.0.0{raw}") } else { raw.to_owned() };
    full.parse().map_err(|e| format!("{raw:?} is not HOST:PORT or :PORT ({e})"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    registry_shared::logging::init("info");
    let Command::Serve { config, address } = Cli::parse().command;
    let config = Config::load(&config).map_err(|errors| {
        eprintln!("{errors}");
        std::process::exit(2)
    })?;
    registry_api::serve(config, address).await.context("registry-api failed")
}
