//! The sync job's handler, which the store's queue runs (`Store::run_sync_jobs`).
//!
//! Each job runs once. A transient failure with tries left queues the next try as a new job that runs after
//! a backoff, so a backoff never holds a worker slot; every outcome is written to the registry's sync status
//! with its reason.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use registry_runtime::config::{Backoff, Config};
use registry_store::Store;
use registry_store::jobs::SyncRegistry;
use registry_store::jobs::worker::{JobFailure, SyncHandler};

use crate::error::SyncError;
use crate::sources::Context;
use crate::sync::{record_unsyncable, sync_registry};

/// What every job handler can reach.
pub struct WorkerState {
    pub store: Store,
    pub config: Arc<Config>,
    pub context: Context,
}

impl SyncHandler for WorkerState {
    /// Runs a sync job inside a span that names the registry, the job and the API request that asked for
    /// it, so every log line of the sync carries them.
    async fn run(&self, job: SyncRegistry, job_id: String) -> Result<(), JobFailure> {
        let span = tracing::info_span!(
            "sync",
            registry.name = %job.registry,
            job.id = %job_id,
            request.id = job.request_id.as_deref().unwrap_or("-"),
        );
        tracing::Instrument::instrument(sync_job(job, job_id, self), span).await
    }
}

async fn sync_job(job: SyncRegistry, id: String, state: &WorkerState) -> Result<(), JobFailure> {
    // The stored definition, not this worker's file: during a rolling deploy they may differ.
    let stored = match state.store.registry(&job.registry).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            tracing::info!(registry.name = %job.registry, "the registry is no longer stored; nothing to sync");
            return Ok(());
        }
        Err(error) => return retry_or_fail(&job, &id, state, &SyncError::Store(error)).await,
    };
    let registry = match stored.definition() {
        Ok(registry) => registry,
        Err(error) => {
            record_unsyncable(&state.store, &stored, &error.to_string())
                .await
                .map_err(|e| JobFailure::Failed(e.to_string()))?;
            return Err(JobFailure::Abort(error.to_string()));
        }
    };
    match sync_registry(&state.store, &registry, &state.context).await {
        Ok(outcome) => {
            tracing::info!(registry.name = %job.registry, trigger = ?job.trigger, attempt = job.attempt, outcome = ?outcome, "sync done");
            Ok(())
        }
        Err(error) => retry_or_fail(&job, &id, state, &error).await,
    }
}

/// After a failed sync (its status already written): queues the next try of a transient failure with tries
/// left, else ends the job as failed.
async fn retry_or_fail(
    job: &SyncRegistry,
    id: &str,
    state: &WorkerState,
    error: &SyncError,
) -> Result<(), JobFailure> {
    let worker = &state.config.worker;
    if !error.is_transient() {
        tracing::error!(registry.name = %job.registry, error = %error, "sync failed permanently; the data stays as it was");
        return Err(JobFailure::Abort(error.to_string()));
    }
    if job.attempt >= worker.max_attempts {
        tracing::error!(registry.name = %job.registry, attempt = job.attempt, error = %error, "sync failed; no tries left until the next interval");
        return Err(JobFailure::Failed(error.to_string()));
    }
    let delay = backoff_delay(&worker.backoff, job.attempt);
    let next = job
        .retry(&state.store, id, delay)
        .await
        .map_err(|e| JobFailure::Failed(format!("{error}; its retry could not be queued: {e}")))?;
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
    Err(JobFailure::Failed(format!("{error}; retried as job {}", next.job_id())))
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

/// Runs the sync jobs until `shutdown` resolves: `worker.concurrency` at a time (see
/// [`Store::run_sync_jobs`]).
pub async fn register_all(
    name: String,
    state: Arc<WorkerState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), registry_store::StoreError> {
    let concurrency = state.config.worker.concurrency as usize;
    let store = state.store.clone();
    store.run_sync_jobs(name, concurrency, state, shutdown).await
}
