//! Jobs: serde structs, each with a fixed queue name and an `enqueue` function that the API, the CLI and the
//! scheduler all use. With [`worker`], which runs them, this is the only module that touches apalis;
//! `queue` holds what reads the queue's own tables.

mod paced;
mod queue;
pub(crate) mod task;
pub mod worker;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::handle::Store;
use crate::sync_state::Claim;

pub use queue::{FailedJob, JobState, QueueReport};
pub(crate) use task::{FailedRow, JobRow, QueuedTask};
pub use task::{Job, PROBE_QUEUE, ProbeRegistry, ProbeScope, SYNC_QUEUE, SyncRegistry, Trigger};

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
    /// Each pass found the registry claimed by another sync that had ended, and released it, and another
    /// claimed it again before this one could.
    #[error("registry {0} is claimed by another sync as this one enqueues")]
    Contended(registry_core::model::RegistryName),
}

impl ProbeRegistry {
    pub fn new(registry: registry_core::model::RegistryName, scope: ProbeScope, trigger: Trigger) -> Self {
        Self { registry, scope, trigger, requested_by: None, request_id: None }
    }
}

impl SyncRegistry {
    /// The first try of a sync.
    pub fn new(
        registry: registry_core::model::RegistryName,
        trigger: Trigger,
        requested_by: Option<String>,
    ) -> Self {
        Self { registry, trigger, requested_by, request_id: None, attempt: task::first_attempt() }
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
        run_after: Option<Duration>,
        replaces: Option<&str>,
    ) -> Result<Enqueued, JobError> {
        // One pass, and one more if the job that held the registry turns out to have ended.
        for _ in 0..2 {
            let task = QueuedTask::new(self, idempotency_key.clone(), run_after)?;
            let existing = match store.claim_and_push(&self.registry, &task).await? {
                Claim::Queued => return Ok(Enqueued::Queued { job_id: task.id }),
                Claim::HeldBy(existing) => existing,
            };
            let state = match &existing {
                Some(id) if Some(id.as_str()) == replaces => JobState::Replaced,
                Some(id) => store.job_state(id).await?,
                None => JobState::Missing,
            };
            if let (true, Some(id)) = (state.is_alive(), existing.as_deref()) {
                if self.trigger == Trigger::Manual {
                    store.run_job_now(id).await?;
                }
                return Ok(Enqueued::AlreadyQueued { job_id: id.to_owned() });
            }
            store
                .release_sync(&self.registry, existing.as_deref(), &state.ended(existing.as_deref()))
                .await?;
        }
        Err(JobError::Contended(self.registry.clone()))
    }
}
