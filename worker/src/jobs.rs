//! The job handlers and their registration: the only module of the worker that touches apalis.

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis::layers::retry::HasherRng;
use apalis::layers::retry::RetryPolicy;
use apalis::layers::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use apalis::prelude::{AbortError, BackendExt, BoxDynError, Data, WorkerBuilder};
use registry_shared::config::Config;
use registry_shared::jobs::{SYNC_QUEUE, SyncRegistry};
use registry_shared::store::Store;

use crate::sources::Context;
use crate::sync::sync_registry;

/// What every job handler can reach.
pub struct WorkerState {
    pub store: Store,
    pub config: Arc<Config>,
    pub context: Context,
}

/// A failure worth retrying with backoff; anything else fails the job at once.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Transient(String);

fn is_transient(error: &BoxDynError) -> bool {
    error.is::<Transient>()
}

async fn handle_sync(job: SyncRegistry, state: Data<Arc<WorkerState>>) -> Result<(), BoxDynError> {
    // The stored definition, not this worker's file: during a rolling deploy they may differ.
    let registry = match state.store.registry(&job.registry).await {
        Ok(Some(registry)) => registry,
        Ok(None) => {
            tracing::info!(registry.name = %job.registry, "the registry is no longer stored; nothing to sync");
            return Ok(());
        }
        Err(error) => return Err(Box::new(Transient(format!("reading the registry: {error}")))),
    };
    let registry = registry.definition().map_err(AbortError::new)?;
    match sync_registry(&state.store, &registry, &state.context).await {
        Ok(outcome) => {
            tracing::info!(registry.name = %job.registry, trigger = ?job.trigger, outcome = ?outcome, "sync done");
            Ok(())
        }
        Err(error) if error.is_transient() => {
            tracing::warn!(registry.name = %job.registry, error = %error, "sync failed; retrying with backoff");
            Err(Box::new(Transient(error.to_string())))
        }
        Err(error) => {
            tracing::error!(registry.name = %job.registry, error = %error, "sync failed permanently; the data stays as it was");
            Err(AbortError::new(error).into())
        }
    }
}

/// Runs the job handlers until `shutdown` resolves: `worker.concurrency` jobs at a time, transient failures
/// retried up to `worker.maxAttempts` with exponential backoff and jitter. A running job finishes before the
/// worker stops; one lost to a crash is picked up again once its heartbeat lapses.
pub async fn register_all(
    name: String,
    state: Arc<WorkerState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxDynError> {
    let worker = &state.config.worker;
    let backoff =
        ExponentialBackoffMaker::new(worker.backoff.min, worker.backoff.max, 0.5, HasherRng::default())?
            .make_backoff();
    let policy = RetryPolicy::retries(worker.max_attempts.saturating_sub(1) as usize)
        .with_backoff(backoff)
        .retry_if(is_transient);
    let concurrency = worker.concurrency as usize;
    let signal = async move {
        shutdown.await;
        Ok::<(), std::io::Error>(())
    };
    // The two backends are different types; the worker is built the same way on each.
    macro_rules! run_on {
        ($backend:expr) => {
            WorkerBuilder::new(name)
                .backend($backend)
                .data(state)
                .concurrency(concurrency)
                .retry(policy)
                .build(handle_sync)
                .run_until(signal)
                .await?
        };
    }
    match state.store.clone() {
        Store::Postgres(pg) => {
            let config = apalis_postgres::Config::default().queue(SYNC_QUEUE).heartbeat_interval(HEARTBEAT);
            run_on!(
                apalis_postgres::PostgresStorage::<SyncRegistry>::new(pg.pool())
                    .with_config(config)
                    .poll_with_interval(POLL)
            );
        }
        Store::Sqlite(sqlite) => {
            let config = apalis_sqlite::Config::default().queue(SYNC_QUEUE).heartbeat_interval(HEARTBEAT);
            run_on!(
                apalis_sqlite::SqliteStorage::<SyncRegistry>::new(sqlite.pool())
                    .with_config(config)
                    .poll_with_interval(POLL)
            );
        }
    }
    Ok(())
}

/// How often an idle worker looks for new jobs.
const POLL: Duration = Duration::from_millis(500);
/// How often a worker proves it is alive; jobs of a worker silent for a few beats go back to the queue.
const HEARTBEAT: Duration = Duration::from_secs(5);
