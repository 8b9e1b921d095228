#![doc = include_str!("../README.md")]

pub mod error;
pub mod jobs;
pub mod kubernetes;
pub mod probe;
pub mod scheduler;
pub mod sources;
pub mod supervisor;
pub mod sync;

use std::sync::Arc;

use anyhow::Context as _;
use registry_runtime::config::{Config, format_duration};
use registry_runtime::outbound::HostTable;
use registry_runtime::shutdown::Shutdown;
use registry_runtime::{bootstrap, internal};
use registry_store::Store;

use crate::jobs::WorkerState;
use crate::sources::{Context, HttpClient};

/// Runs the scheduler and the job handlers until `shutdown` resolves.
///
/// On SQLite (single node) pending migrations and the configured registries are applied first. On
/// PostgreSQL the worker waits until `registry-admin migrate` has brought the schema up to date, and syncs
/// the registries as stored, whatever its own file says. It returns an error (and `registry-worker run`
/// exits non-zero) when it cannot reach the database for `worker.maxOutage`.
///
/// It also serves the internal listener (`server.internalAddress`): `/metrics`, `/health`, `/readiness` (the
/// database answers with the schema this build needs) and `/version`.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    registry_runtime::metrics::install(config.metrics.enabled);
    let listener = internal::bind(config.server.internal_address).await?;
    tracing::info!(address = %listener.local_addr()?, "internal listener (metrics, probes) listening");
    let store = bootstrap::open(&config).await.context("opening the database")?;
    let shutdown = Shutdown::when(shutdown);
    let router = internal::router(
        Arc::new(internal::StoreReadiness(store.clone())),
        Some(internal::scrape_store(store.clone())),
    );
    let internal = tokio::spawn(internal::serve(listener, router, shutdown.wait()));
    let result = run_on(config, store, shutdown.wait()).await;
    internal.abort();
    result
}

/// As [`run`], on a store the caller opened (the embedded setup shares one SQLite store with the API).
pub async fn run_on(
    config: Config,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let shutdown = Shutdown::when(shutdown);
    let max_outage = config.worker.max_outage;
    tokio::select! {
        _ = bootstrap::wait_until_ready(&store, &config.registries) => {}
        () = tokio::time::sleep(max_outage) => anyhow::bail!(
            "the database has not been ready for worker.maxOutage ({}); exiting so that the worker is restarted",
            format_duration(max_outage)
        ),
        () = shutdown.wait() => return Ok(()),
    }
    let context = Context {
        http: HttpClient::new().context("building the HTTP client")?,
        data_dir: config.worker.data_dir.clone(),
        job_timeout: config.worker.job_timeout,
        git_timeout: config.worker.git_timeout,
    };
    let prober = probe::Prober::new(store.clone(), config.worker.probe_concurrency, HostTable::default());
    let state = Arc::new(WorkerState { store: store.clone(), config: Arc::new(config), context, prober });
    let name = format!("registry-worker-{}-{}", hostname(), std::process::id());
    let watches = kubernetes::watch::run(store.clone(), name.clone(), Default::default(), shutdown.wait());
    let mut watches = tokio::spawn(watches);
    let mut scheduler = tokio::spawn(scheduler::run(store, shutdown.wait()));
    let handlers = supervisor::run_handlers(state, &name, &shutdown);
    tokio::pin!(handlers);
    let result = tokio::select! {
        result = &mut handlers => {
            scheduler.abort();
            result
        }
        ended = &mut scheduler => match ended {
            Err(e) if e.is_panic() => Err(anyhow::anyhow!("the scheduler panicked: {e}")),
            // It stops at shutdown; the handlers get their grace to finish.
            _ => handlers.await,
        },
        ended = &mut watches => {
            scheduler.abort();
            match ended {
                Err(e) if e.is_panic() => Err(anyhow::anyhow!("the Kubernetes watches panicked: {e}")),
                // They stop at shutdown; the handlers get their grace to finish.
                _ => handlers.await,
            }
        }
    };
    // At shutdown the watches end by themselves, giving their locks back; after a failure they are stopped.
    if !watches.is_finished() {
        if !shutdown.is_stopping() {
            watches.abort();
        }
        let _ = watches.await;
    }
    result
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "local".to_owned())
}
