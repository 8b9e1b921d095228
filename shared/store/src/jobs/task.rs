//! The sync job as the queue stores it, the same on both backends: what is pushed, and what each backend's
//! queue builds from it.

use std::time::Duration;

use apalis::prelude::{Task, TaskBuilder, TaskId};
use registry_core::model::RegistryName;
use serde::{Deserialize, Serialize};

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

pub(crate) fn first_attempt() -> u32 {
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

/// One job to push: its id, its encoded [`SyncRegistry`], the key that makes it unique in the queue, and when
/// it may run.
#[derive(Debug, Clone)]
pub(crate) struct QueuedTask {
    pub id: String,
    pub payload: Vec<u8>,
    pub idempotency_key: Option<String>,
    pub run_after: Option<Duration>,
}

/// A job's row in the queue's own table: status, attempts, most attempts, last result.
pub(crate) type JobRow = (String, i64, i64, Option<String>);

/// A failed job's row in the queue's own table: id, registry, attempts, last result.
pub(crate) type FailedRow = (String, Option<String>, i64, Option<String>);

impl QueuedTask {
    /// The task as apalis pushes it, on either backend. Retries are new jobs (see
    /// `SyncRegistry::retry`): apalis runs each one once.
    pub(crate) fn to_task(&self) -> Task<Vec<u8>> {
        let mut task = TaskBuilder::new(self.payload.clone())
            .task_id(TaskId::from_string(self.id.clone()))
            .max_attempts(1);
        if let Some(key) = &self.idempotency_key {
            task = task.idempotency_key(key);
        }
        if let Some(delay) = self.run_after {
            task = task.run_after(delay);
        }
        task.build()
    }
}

/// How often an idle worker looks for new jobs.
pub(crate) const POLL: Duration = Duration::from_millis(500);
/// How often a worker proves it is alive; jobs of a worker silent for a few beats go back to the queue.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);
