//! The job handlers and their registration: the only module of the worker that touches apalis.
//!
//! Each job runs once. A transient failure with tries left queues the next try as a new job that runs after
//! a backoff, so a backoff never holds a worker slot; every outcome is written to the registry's sync status
//! with its reason.

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis::prelude::{AbortError, BackendExt, BoxDynError, Data, TaskId, WorkerBuilder};
use backon::{BackoffBuilder, ExponentialBuilder};
use registry_runtime::config::{Backoff, Config};
use registry_store::Store;
use registry_store::jobs::{SYNC_QUEUE, SyncRegistry};

use crate::error::SyncError;
use crate::sources::Context;
use crate::sync::{record_unsyncable, sync_registry};

/// What every job handler can reach.
pub struct WorkerState {
    pub store: Store,
    pub config: Arc<Config>,
    pub context: Context,
}

/// A failure that was retried as a new job, or that used up the tries; the sync status has the details.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

/// Runs a sync job inside a span that names the registry, the job and the API request that asked for it, so
/// every log line of the sync carries them.
async fn handle_sync(
    job: SyncRegistry,
    id: TaskId,
    state: Data<Arc<WorkerState>>,
) -> Result<(), BoxDynError> {
    let span = tracing::info_span!(
        "sync",
        registry.name = %job.registry,
        job.id = %id,
        request.id = job.request_id.as_deref().unwrap_or("-"),
    );
    tracing::Instrument::instrument(sync_job(job, id, state), span).await
}

async fn sync_job(job: SyncRegistry, id: TaskId, state: Data<Arc<WorkerState>>) -> Result<(), BoxDynError> {
    let id = id.to_string();
    // The stored definition, not this worker's file: during a rolling deploy they may differ.
    let stored = match state.store.registry(&job.registry).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            tracing::info!(registry.name = %job.registry, "the registry is no longer stored; nothing to sync");
            return Ok(());
        }
        Err(error) => return retry_or_fail(&job, &id, &state, &SyncError::Store(error)).await,
    };
    let registry = match stored.definition() {
        Ok(registry) => registry,
        Err(error) => {
            record_unsyncable(&state.store, &stored, &error.to_string()).await?;
            return Err(AbortError::new(error).into());
        }
    };
    match sync_registry(&state.store, &registry, &state.context).await {
        Ok(outcome) => {
            tracing::info!(registry.name = %job.registry, trigger = ?job.trigger, attempt = job.attempt, outcome = ?outcome, "sync done");
            Ok(())
        }
        Err(error) => retry_or_fail(&job, &id, &state, &error).await,
    }
}

/// After a failed sync (its status already written): queues the next try of a transient failure with tries
/// left, else ends the job as failed.
async fn retry_or_fail(
    job: &SyncRegistry,
    id: &str,
    state: &WorkerState,
    error: &SyncError,
) -> Result<(), BoxDynError> {
    let worker = &state.config.worker;
    if !error.is_transient() {
        tracing::error!(registry.name = %job.registry, error = %error, "sync failed permanently; the data stays as it was");
        return Err(AbortError::new(error.to_string()).into());
    }
    if job.attempt >= worker.max_attempts {
        tracing::error!(registry.name = %job.registry, attempt = job.attempt, error = %error, "sync failed; no tries left until the next interval");
        return Err(Box::new(Failed(error.to_string())));
    }
    let delay = backoff_delay(&worker.backoff, job.attempt);
    let next = job.retry(&state.store, id, delay).await?;
    metrics::counter!(registry_runtime::metrics::SYNC_RETRIES, "registry" => job.registry.to_string())
        .increment(1);
    tracing::warn!(
        registry.name = %job.registry,
        attempt = job.attempt,
        retry_in_ms = delay.as_millis(),
        job.id = next.job_id(),
        error = %error,
        "sync failed; queued the next try"
    );
    Err(Box::new(Failed(format!("{error}; retried as job {}", next.job_id()))))
}

/// The wait before try `attempt + 1`: exponential from `backoff.min` to `backoff.max`, with jitter.
pub fn backoff_delay(backoff: &Backoff, attempt: u32) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(backoff.min)
        .with_max_delay(backoff.max)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt.saturating_sub(1) as usize)
        .unwrap_or(backoff.max)
        .min(backoff.max)
}

/// Runs the job handlers until `shutdown` resolves: `worker.concurrency` jobs at a time, each fetched only
/// when a slot is free for it. Running jobs may finish after `shutdown` (the supervisor bounds that by
/// `shutdown.grace`); one lost to a crash is picked up again once its heartbeat lapses.
pub async fn register_all(
    name: String,
    state: Arc<WorkerState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxDynError> {
    let concurrency = state.config.worker.concurrency as usize;
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
                .build(handle_sync)
                .run_until(signal)
                .await?
        };
    }
    match state.store.clone() {
        Store::Postgres(pg) => {
            let config = apalis_postgres::Config::default()
                .queue(SYNC_QUEUE)
                .heartbeat_interval(HEARTBEAT)
                .batch_size(concurrency);
            run_on!(
                apalis_postgres::PostgresStorage::<SyncRegistry>::new(pg.pool())
                    .with_config(config)
                    .poll_with_interval(POLL)
            );
        }
        Store::Sqlite(sqlite) => {
            let config = apalis_sqlite::Config::default()
                .queue(SYNC_QUEUE)
                .heartbeat_interval(HEARTBEAT)
                .batch_size(concurrency);
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
