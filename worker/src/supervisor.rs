//! Keeps the job handlers running. The queue poller gives up for good when the database goes away (apalis
//! marks its backend dead), so it runs under this supervisor: when it fails, the supervisor waits for the
//! database with backoff, gives the jobs the failed incarnation held back to the queue, and starts a new
//! one. A worker that cannot reach the queue for `worker.maxOutage` exits with an error, so its orchestrator
//! restarts it: it is never alive and idle.
//!
//! On shutdown, running jobs get `shutdown.grace` to finish; the ones still running then are given back to
//! the queue, so another worker takes them at once instead of after their heartbeat lapses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use backon::{BackoffBuilder, ExponentialBuilder};
use registry_shared::config::format_duration;
use registry_shared::jobs::release_worker_jobs;
use registry_shared::shutdown::Shutdown;
use registry_shared::store::Store;

use crate::jobs::{self, WorkerState};

/// A run of the handlers that lasted this long counts as a recovery: the outage clock starts again.
const STABLE: Duration = Duration::from_secs(30);
/// The longest a probe of the database may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the job handlers under `name` until `shutdown`, restarting them after failures (see the module docs).
pub async fn run_handlers(state: Arc<WorkerState>, name: &str, shutdown: &Shutdown) -> anyhow::Result<()> {
    let worker = &state.config.worker;
    let grace = state.config.shutdown.grace;
    let mut outage_since: Option<Instant> = None;
    for incarnation in 1u64.. {
        let id = format!("{name}-{incarnation}");
        let started = Instant::now();
        let handlers = jobs::register_all(id.clone(), state.clone(), shutdown.wait());
        let failure = tokio::select! {
            result = handlers => match result {
                Ok(()) => return Ok(()),
                Err(error) => error.to_string(),
            },
            () = grace_expired(shutdown, grace) => {
                tracing::warn!(grace = %format_duration(grace), "running jobs outlived the shutdown grace");
                give_back(&state.store, &id).await;
                return Ok(());
            }
        };
        if shutdown.is_stopping() {
            give_back(&state.store, &id).await;
            return Ok(());
        }
        if started.elapsed() >= STABLE {
            outage_since = None;
        }
        // The outage began when the first of a run of quick failures showed.
        let since = *outage_since.get_or_insert_with(Instant::now);
        tracing::error!(worker.id = %id, error = %failure, "the job handlers failed; restarting them once the database answers");
        if !wait_for_database(&state.store, since, worker.max_outage, shutdown).await {
            return Err(anyhow!(
                "the sync queue has been unreachable for worker.maxOutage ({}); exiting so that the worker is restarted",
                format_duration(worker.max_outage)
            ));
        }
        give_back(&state.store, &id).await;
    }
    Ok(())
}

/// Resolves `grace` after shutdown has begun.
async fn grace_expired(shutdown: &Shutdown, grace: Duration) {
    shutdown.wait().await;
    tokio::time::sleep(grace).await;
}

/// Probes the database with backoff until it answers (true), shutdown begins (true), or the outage that
/// began at `since` passes `max_outage` (false).
async fn wait_for_database(store: &Store, since: Instant, max_outage: Duration, shutdown: &Shutdown) -> bool {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        if matches!(tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await, Ok(Ok(()))) {
            tracing::info!(outage_s = since.elapsed().as_secs(), "the database answers again");
            return true;
        }
        let left = max_outage.saturating_sub(since.elapsed());
        if left.is_zero() {
            return false;
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(5)).min(left);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.wait() => return true,
        }
    }
}

/// Gives the jobs held by the incarnation `id` back to the queue; a failure is logged (their heartbeat
/// lapses in the end, and another worker takes them then).
async fn give_back(store: &Store, id: &str) {
    match release_worker_jobs(store, id).await {
        Ok(0) => {}
        Ok(released) => {
            tracing::info!(worker.id = %id, jobs = released, "gave running jobs back to the queue");
        }
        Err(error) => {
            tracing::warn!(worker.id = %id, error = %error, "cannot give running jobs back; they return once the heartbeat lapses");
        }
    }
}
