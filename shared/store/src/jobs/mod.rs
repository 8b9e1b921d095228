//! Jobs: serde structs, each with a fixed queue name and an `enqueue` function that the API, the CLI and the
//! scheduler all use. With the worker's `register_all`, this is the only module that touches apalis; `queue`
//! holds what reads the queue's own tables.

mod queue;

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{QueueSlot, Store, StoreError};
use registry_core::model::RegistryName;

pub use queue::{
    FailedJob, JobState, QueueReport, job_state, oldest_pending_age, queue_report, release_stuck,
    release_worker_jobs,
};

/// The queue of [`SyncRegistry`] jobs. Fixed: a renamed module must not orphan queued jobs.
pub const SYNC_QUEUE: &str = "registry-sync";

/// Sync one registry now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRegistry {
    pub registry: RegistryName,
    pub trigger: Trigger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// The `x-request-id` of the API request that asked for the sync, so the job's logs can be found by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// 1 for the first try; a retry after a transient failure is a new job with the next number.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Manual,
    /// A Kubernetes watcher saw a change, a relist, or took over.
    Watch,
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    Queued {
        job_id: String,
    },
    /// A live sync job of that registry was queued or running already; no second one was made.
    AlreadyQueued {
        job_id: String,
    },
}

impl Enqueued {
    pub fn job_id(&self) -> &str {
        match self {
            Self::Queued { job_id } | Self::AlreadyQueued { job_id } => job_id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot encode the job: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("cannot push the job: {0}")]
    Queue(String),
}

impl SyncRegistry {
    /// The first try of a sync.
    pub fn new(registry: RegistryName, trigger: Trigger, requested_by: Option<String>) -> Self {
        Self { registry, trigger, requested_by, request_id: None, attempt: first_attempt() }
    }

    /// Enqueues the sync unless a live job is queued or running for the registry. The registry is marked
    /// queued and the job pushed in one transaction. `slot`, for scheduled syncs, makes the job unique per
    /// (registry, slot) in the queue as well. A manual sync finds a retry waiting for its backoff and runs
    /// it now. A registry marked queued or syncing by a job that has ended (killed, lost) is taken over.
    pub async fn enqueue(&self, store: &Store, slot: Option<DateTime<Utc>>) -> Result<Enqueued, JobError> {
        let key = slot.map(|slot| format!("{}@{}", self.registry, slot.timestamp_micros()));
        self.push(store, key, None, None).await
    }

    /// Enqueues the next attempt of this sync, run as job `current`, to run after `delay`. Backoff waits in
    /// the queue, not in a worker's slot. The registry may still be marked with `current` (its status could
    /// not be written): that mark is taken over.
    pub async fn retry(&self, store: &Store, current: &str, delay: Duration) -> Result<Enqueued, JobError> {
        let next = Self { attempt: self.attempt + 1, ..self.clone() };
        next.push(store, None, Some(delay), Some(current)).await
    }

    async fn push(
        &self,
        store: &Store,
        idempotency_key: Option<String>,
        delay: Option<Duration>,
        replaces: Option<&str>,
    ) -> Result<Enqueued, JobError> {
        // One pass, and one more if the job that held the registry turns out to have ended.
        for _ in 0..2 {
            let job_id = ulid::Ulid::new().to_string();
            let mut task = TaskBuilder::new(serde_json::to_vec(self)?)
                .task_id(TaskId::from_string(job_id.clone()))
                // Retries are new jobs (see `retry`); apalis runs each one once.
                .max_attempts(1);
            if let Some(key) = &idempotency_key {
                task = task.idempotency_key(key);
            }
            if let Some(delay) = delay {
                task = task.run_after(delay);
            }
            match store.claim_queue_slot(&self.registry, &job_id).await? {
                QueueSlot::Postgres(mut tx) => {
                    apalis_postgres::queries::push_tasks(&mut *tx, SYNC_QUEUE, vec![task.build()])
                        .await
                        .map_err(|e| JobError::Queue(e.to_string()))?;
                    tx.commit().await?;
                    return Ok(Enqueued::Queued { job_id });
                }
                QueueSlot::Sqlite(mut tx) => {
                    apalis_sqlite::queries::push_tasks(&mut *tx, SYNC_QUEUE, &[task.build()])
                        .await
                        .map_err(|e| JobError::Queue(e.to_string()))?;
                    tx.commit().await?;
                    return Ok(Enqueued::Queued { job_id });
                }
                QueueSlot::Taken(existing) => {
                    let state = match &existing {
                        Some(id) if Some(id.as_str()) == replaces => JobState::Replaced,
                        Some(id) => job_state(store, id).await?,
                        None => JobState::Missing,
                    };
                    if let (true, Some(id)) = (state.is_alive(), existing.as_deref()) {
                        if self.trigger == Trigger::Manual {
                            queue::run_now(store, id).await?;
                        }
                        return Ok(Enqueued::AlreadyQueued { job_id: id.to_owned() });
                    }
                    store
                        .release_sync(&self.registry, existing.as_deref(), &state.ended(existing.as_deref()))
                        .await?;
                }
            }
        }
        Err(JobError::Queue(format!(
            "registry {} is claimed by another sync as this one enqueues",
            self.registry
        )))
    }
}
