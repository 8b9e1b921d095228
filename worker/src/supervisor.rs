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
use registry_runtime::config::format_duration;
use registry_runtime::shutdown::Shutdown;
use registry_store::Store;

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
    let mut delays = restart_delays();
    for incarnation in 1u64.. {
        let id = format!("{name}-{incarnation}");
        let started = Instant::now();
        let handlers = jobs::register_all(id.clone(), state.clone(), shutdown);
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
            delays = restart_delays();
        }
        // The outage began when the first of a run of quick failures showed.
        let since = *outage_since.get_or_insert_with(Instant::now);
        tracing::error!(worker.id = %id, error = %failure, "the job handlers failed; restarting them once the database answers");
        match wait_for_database(&state.store, since, worker.max_outage, &mut delays, shutdown).await {
            Waited::Answering => give_back(&state.store, &id).await,
            Waited::Stopping => {
                give_back(&state.store, &id).await;
                return Ok(());
            }
            Waited::TooLong => {
                return Err(anyhow!(
                    "the sync queue has been unreachable for worker.maxOutage ({}); exiting so that the worker is restarted",
                    format_duration(worker.max_outage)
                ));
            }
        }
    }
    Ok(())
}

/// The waits between restarts: exponential, with jitter, from 250 ms to 5 s.
fn restart_delays() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Resolves `grace` after shutdown has begun.
async fn grace_expired(shutdown: &Shutdown, grace: Duration) {
    shutdown.wait().await;
    tokio::time::sleep(grace).await;
}

/// How a wait for the database ended.
enum Waited {
    Answering,
    Stopping,
    /// The outage that began at `since` has lasted `worker.maxOutage`.
    TooLong,
}

/// Waits the next backoff delay, then probes the database, until it answers, shutdown begins, or the outage
/// that began at `since` lasts `max_outage`. It always waits before a restart, and counts the outage even
/// while the database answers, so handlers that fail at once for another reason neither spin nor live on
/// past `max_outage`.
async fn wait_for_database(
    store: &Store,
    since: Instant,
    max_outage: Duration,
    delays: &mut impl Iterator<Item = Duration>,
    shutdown: &Shutdown,
) -> Waited {
    loop {
        let left = max_outage.saturating_sub(since.elapsed());
        if left.is_zero() {
            return Waited::TooLong;
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(5)).min(left);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.wait() => return Waited::Stopping,
        }
        if matches!(tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await, Ok(Ok(()))) {
            tracing::info!(outage_s = since.elapsed().as_secs(), "the database answers again");
            return Waited::Answering;
        }
    }
}

/// Gives the jobs held by the incarnation `id` back to the queue; a failure is logged (their heartbeat
/// lapses in the end, and another worker takes them then).
async fn give_back(store: &Store, id: &str) {
    for runner in [id.to_owned(), format!("{id}{}", jobs::PROBES)] {
        give_back_of(store, &runner).await;
    }
}

async fn give_back_of(store: &Store, id: &str) {
    match store.release_worker_jobs(id).await {
        Ok(0) => {}
        Ok(released) => {
            tracing::info!(worker.id = %id, jobs = released, "gave running jobs back to the queue");
        }
        Err(error) => {
            tracing::warn!(worker.id = %id, error = %error, "cannot give running jobs back; they return once the heartbeat lapses");
        }
    }
}
