#![doc = include_str!("../README.md")]

pub mod jobs;
pub mod scheduler;
pub mod sources;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use registry_shared::bootstrap;
use registry_shared::config::Config;
use registry_shared::shutdown::Shutdown;
use registry_shared::store::Store;

use crate::jobs::WorkerState;
use crate::sources::{Context, HttpClient};

/// Runs the scheduler and the job handlers until `shutdown` resolves.
///
/// On SQLite (single node) pending migrations and the configured registries are applied first. On
/// PostgreSQL the worker waits until `registry-admin migrate` has brought the schema up to date, and syncs
/// the registries as stored, whatever its own file says.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let store = bootstrap::open(&config).await.context("opening the database")?;
    run_on(config, store, shutdown).await
}

/// As [`run`], on a store the caller opened (the embedded setup shares one SQLite store with the API).
pub async fn run_on(
    config: Config,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    bootstrap::wait_until_ready(&store, &config.registries).await;
    let context = Context {
        http: HttpClient::new().context("building the HTTP client")?,
        data_dir: config.worker.data_dir.clone(),
        job_timeout: config.worker.job_timeout,
    };
    let state = Arc::new(WorkerState { store: store.clone(), config: Arc::new(config), context });
    let shutdown = Shutdown::when(shutdown);
    let scheduler = tokio::spawn(scheduler::run(store, shutdown.wait()));
    let name = format!("registry-worker-{}-{}", hostname(), std::process::id());
    let handlers = tokio::spawn(jobs::register_all(name, state, shutdown.wait()));
    if scheduler.await.is_err() {
        tracing::error!("the scheduler task panicked");
    }
    // Running jobs get a bounded time to finish; one still running after it is released to the queue by
    // its lapsed heartbeat and picked up by another worker.
    match tokio::time::timeout(SHUTDOWN_GRACE, handlers).await {
        Ok(Ok(result)) => result.map_err(|e| anyhow::anyhow!("job worker failed: {e}")),
        Ok(Err(e)) => Err(anyhow::anyhow!("job worker panicked: {e}")),
        Err(_) => {
            tracing::warn!(
                grace_s = SHUTDOWN_GRACE.as_secs(),
                "running jobs outlived the grace period; leaving them to another worker"
            );
            Ok(())
        }
    }
}

/// How long running jobs may go on after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned())
}
