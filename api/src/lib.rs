#![doc = include_str!("../README.md")]

pub mod app;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod routes;
pub mod state;

use std::net::SocketAddr;

use registry_shared::config::Config;

pub use app::Application;

/// Serves the API until SIGINT or SIGTERM.
pub async fn serve(config: Config, address: SocketAddr) -> anyhow::Result<()> {
    let application = Application::build(config, address).await?;
    tracing::info!(address = %application.local_addr()?, "registry-api listening");
    application.run_until(registry_shared::shutdown::signal()).await
}
