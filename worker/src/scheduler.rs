//! The scheduler tick: every few seconds, release registries whose job ended without a result, claim the
//! registries whose sync is due (or was asked for by a Kubernetes watcher while another ran) and enqueue one
//! job each; then the same for probe passes, and a pass of the new versions of a registry that has latest
//! versions not probed yet. Every worker replica ticks; the claim in the database makes each (registry,
//! slot) go to exactly one, and a pass of new versions is not queued while one of the registry's is live.

use std::time::Duration;

use chrono::Utc;
use registry_store::Store;
use registry_store::jobs::{Enqueued, ProbeRegistry, ProbeScope, SyncRegistry, Trigger};

/// How often the scheduler looks for due registries.
pub const TICK: Duration = Duration::from_secs(2);
/// The most registries one tick claims.
const BATCH: u32 = 100;

/// Releases registries whose sync job ended without a result, then claims what is due now and enqueues it;
/// returns how many jobs it queued.
pub async fn tick(store: &Store) -> Result<usize, registry_store::jobs::JobError> {
    store.release_stuck().await?;
    let due = store.claim_due(Utc::now(), BATCH).await?;
    let mut queued = 0;
    for claimed in due {
        let trigger = if claimed.requested { Trigger::Watch } else { Trigger::Schedule };
        let job = SyncRegistry::new(claimed.registry.clone(), trigger, None);
        match job.enqueue(store, Some(claimed.slot)).await? {
            Enqueued::Queued { job_id } => {
                tracing::info!(registry.name = %claimed.registry, job.id = %job_id, "scheduled sync queued");
                queued += 1;
            }
            Enqueued::AlreadyQueued { .. } => {
                tracing::debug!(registry.name = %claimed.registry, "due, but a sync is already queued");
            }
        }
    }
    Ok(queued + probe_tick(store).await?)
}

/// Claims the due probe passes and enqueues them, then a pass of new versions for each registry that has
/// some; returns how many jobs it queued.
pub async fn probe_tick(store: &Store) -> Result<usize, registry_store::jobs::JobError> {
    let mut queued = 0;
    for due in store.claim_due_probes(Utc::now(), BATCH).await? {
        let job = ProbeRegistry::new(due.registry.clone(), ProbeScope::All, Trigger::Schedule);
        if let Enqueued::Queued { job_id } = store.enqueue_probe(&job, Some(due.slot)).await? {
            tracing::info!(registry.name = %due.registry, job.id = %job_id, "scheduled probe pass queued");
            queued += 1;
        }
    }
    for registry in store.registries_with_unprobed().await? {
        let job = ProbeRegistry::new(registry.clone(), ProbeScope::New, Trigger::Schedule);
        if let Enqueued::Queued { job_id } = store.enqueue_probe(&job, None).await? {
            tracing::info!(registry.name = %registry, job.id = %job_id, "probe pass of new versions queued");
            queued += 1;
        }
    }
    Ok(queued)
}

/// Ticks until `shutdown` resolves. A failed tick is logged and the next one tries again.
pub async fn run(store: Store, shutdown: impl Future<Output = ()>) {
    let ticking = async {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            interval.tick().await;
            match tick(&store).await {
                Ok(_) if failing => {
                    tracing::info!("scheduler ticks succeed again");
                    failing = false;
                }
                Ok(_) => {}
                // Logged when failing starts, not at every tick of an outage.
                Err(error) if !failing => {
                    tracing::warn!(error = %error, "scheduler tick failed; trying again every tick");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    };
    tokio::select! {
        () = ticking => {}
        () = shutdown => tracing::info!("scheduler stopped"),
    }
}
