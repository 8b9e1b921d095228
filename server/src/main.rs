//! `registry-api`: serve the MCP Registry API, with the worker in-process on SQLite (single node) or with
//! `--with-worker`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use registry_runtime::config::{Config, parse_address};
use registry_runtime::shutdown;

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
    /// Exit 0 when the process behind the internal listener at ADDRESS answers /readiness with 200, else 1:
    /// the container image's HEALTHCHECK, which has no shell or curl to run.
    Healthcheck {
        /// The internal listener (server.internalAddress) to ask: HOST:PORT, or :PORT for 127.0.0.1.
        #[arg(long, default_value = ":8081", value_parser = parse_address)]
        address: SocketAddr,
    },
}

fn main() -> anyhow::Result<()> {
    let (config, address, with_worker) = match Cli::parse().command {
        Command::Serve { config, address, with_worker } => (config, address, with_worker),
        Command::Healthcheck { address } => healthcheck(address),
    };
    let config = Config::load(&config).map_err(|errors| {
        eprintln!("{errors}");
        std::process::exit(2)
    })?;
    let _telemetry = registry_runtime::logging::init_with("info", "registry-api", &config.tracing);
    registry_worker::sources::set_git_timeouts(config.worker.git_timeout);
    shutdown::block_on(registry_server::serve(config, address, with_worker, shutdown::signal()))
}

/// Asks the internal listener at `address` (the loopback address when it names every interface) for
/// `/readiness` within 3 s, and exits with the answer.
fn healthcheck(mut address: SocketAddr) -> ! {
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{address}/readiness");
    let checked = tokio::runtime::Builder::new_current_thread().enable_all().build().map(|runtime| {
        runtime.block_on(async {
            if rustls::crypto::ring::default_provider().install_default().is_err() {
                // Installed already.
            }
            // Never through a proxy of the environment: the listener is this container's own.
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(std::time::Duration::from_secs(3))
                .build()
                .map_err(|e| e.to_string())?;
            let response = client.get(&url).send().await.map_err(|e| format!("GET {url} failed: {e}"))?;
            match response.status() {
                reqwest::StatusCode::OK => Ok(()),
                status => {
                    // A body that cannot be read leaves the status to say what went wrong.
                    Err(format!("GET {url} answered {status}: {}", response.text().await.unwrap_or_default()))
                }
            }
        })
    });
    match checked {
        Ok(Ok(())) => std::process::exit(0),
        Ok(Err(reason)) => eprintln!("not ready: {reason}"),
        Err(error) => eprintln!("cannot start the check: {error}"),
    }
    std::process::exit(1)
}
