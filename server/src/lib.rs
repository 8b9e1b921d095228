#![doc = include_str!("../README.md")]

use std::net::SocketAddr;

use anyhow::Context;
use registry_runtime::config::Config;
use registry_runtime::shutdown::{Shutdown, Signal};
use registry_runtime::{bootstrap, internal};

/// Serves the API until `shutdown` resolves; on SQLite, or with `with_worker`, the sync worker runs in the
/// same process on the same store. When either fails (the worker exits when it cannot reach the database
/// for `worker.maxOutage`), the other is stopped too, and the error returned: the process is never half
/// alive.
pub async fn serve(
    config: Config,
    address: SocketAddr,
    with_worker: bool,
    signal: impl Future<Output = Signal> + Send + 'static,
) -> anyhow::Result<()> {
    let (fail, failed) = tokio::sync::oneshot::channel::<()>();
    let shutdown = Shutdown::on(async move {
        tokio::select! {
            signal = signal => signal,
            // The other half failed: stop at once, there is nothing to drain for.
            _ = failed => Signal::Interrupt,
        }
    });
    let embedded = with_worker || config.database.is_embedded();
    registry_runtime::metrics::install(config.metrics.enabled);
    // One internal listener per process, the worker's included when it runs here.
    let internal = internal::bind(config.server.internal_address).await?;
    // One store for both: on SQLite, two would be two writers contending for one file.
    let store = bootstrap::open_serving(&config).await.context("opening the database")?;
    let application = registry_api::Application::on_store(config.clone(), store.clone(), address).await?;
    tracing::info!(
        address = %application.local_addr()?,
        internal = %internal.local_addr()?,
        worker = embedded,
        "registry-api listening"
    );
    // It answers until the process ends: probes see the drain, and metrics the last requests.
    let internal =
        tokio::spawn(internal::serve(internal, application.internal_router(), std::future::pending()));
    let _stop_internal = AbortOnDrop(internal);
    let api = application.serve(shutdown.clone());
    if !embedded {
        return api.await.context("registry-api failed");
    }
    let worker = registry_worker::run_on(config, store, shutdown.wait());
    tokio::pin!(api, worker);
    // Whichever ends first, the other is stopped now too (a no-op when the signal came) and awaited.
    tokio::select! {
        api_result = &mut api => {
            fail.send(()).ok();
            let worker_result = worker.await.context("the in-process worker failed");
            api_result.context("registry-api failed").and(worker_result)
        }
        worker_result = &mut worker => {
            fail.send(()).ok();
            let api_result = api.await.context("registry-api failed");
            worker_result.context("the in-process worker failed").and(api_result)
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), std::io::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
