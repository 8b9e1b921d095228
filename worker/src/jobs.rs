//! The handlers of the sync and probe jobs, which the store's queues run (`Store::run_jobs`).
//!
//! Each job runs once. A transient failure with tries left queues the next try as a new job that runs after
//! a backoff, so a backoff never holds a worker slot; every outcome is written to the registry's sync status
//! with its reason.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use registry_runtime::config::{Backoff, Config};
use registry_store::Store;
use registry_store::jobs::worker::{JobFailure, JobHandler};
use registry_store::jobs::{ProbeRegistry, SyncRegistry};

use crate::error::SyncError;
use crate::probe::Prober;
use crate::sources::Context;
use crate::sync::{record_unsyncable, sync_registry};

/// What every job handler can reach.
pub struct WorkerState {
    pub store: Store,
    pub config: Arc<Config>,
    pub context: Context,
    pub prober: Arc<Prober>,
}

impl JobHandler<SyncRegistry> for WorkerState {
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

impl JobHandler<ProbeRegistry> for WorkerState {
    /// Runs a probe pass inside a span that names the registry and the job. A pass that fails (the database
    /// went away) is not retried: the next one comes at the registry's interval, or at once for new versions.
    async fn run(&self, job: ProbeRegistry, job_id: String) -> Result<(), JobFailure> {
        let span = tracing::info_span!(
            "probe",
            registry.name = %job.registry,
            job.id = %job_id,
            request.id = job.request_id.as_deref().unwrap_or("-"),
        );
        let pass = async {
            let started = std::time::Instant::now();
            match self.prober.pass(&job).await {
                Ok(summary) => {
                    tracing::info!(
                        scope = ?job.scope, probed = summary.probed, skipped = summary.skipped,
                        unrecorded = summary.unrecorded, tool_changes = summary.tool_changes,
                        duration_ms = started.elapsed().as_millis(), "probe pass done"
                    );
                    Ok(())
                }
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "probe pass failed");
                    Err(JobFailure::Abort(format!("{error:#}")))
                }
            }
        };
        tracing::Instrument::instrument(pass, span).await
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

/// Runs the sync jobs, `worker.concurrency` at a time, and the probe passes, `worker.probeConcurrency` at a
/// time (their probes share that many slots), until `shutdown` resolves (see [`Store::run_jobs`]). The probe
/// queue's runner is named `{name}{PROBES}`.
pub async fn register_all(
    name: String,
    state: Arc<WorkerState>,
    shutdown: &registry_runtime::shutdown::Shutdown,
) -> Result<(), registry_store::StoreError> {
    let worker = &state.config.worker;
    let (syncs, probes) = (worker.concurrency as usize, worker.probe_concurrency as usize);
    let store = state.store.clone();
    let probe_runner = format!("{name}{PROBES}");
    tokio::try_join!(
        store.run_jobs::<SyncRegistry, _>(name, syncs, state.clone(), shutdown.wait()),
        store.run_jobs::<ProbeRegistry, _>(probe_runner, probes, state.clone(), shutdown.wait()),
    )
    .map(drop)
}

/// The suffix of the probe queue's runner's name.
pub const PROBES: &str = "/probes";
