//! The sync job as the queue stores it, the same on both backends: what is pushed, and what each backend's
//! queue builds from it.

use std::time::Duration;

use apalis::prelude::{Task, TaskBuilder, TaskId};
use registry_core::model::RegistryName;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A kind of job: its payload, and the queue it waits in.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// Fixed: a renamed module must not orphan queued jobs.
    const QUEUE: &'static str;
}

/// The queue of [`SyncRegistry`] jobs.
pub const SYNC_QUEUE: &str = "registry-sync";

impl Job for SyncRegistry {
    const QUEUE: &'static str = SYNC_QUEUE;
}

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

/// The queue of [`ProbeRegistry`] jobs: apart from syncs, so a probe pass never holds a sync's slot.
pub const PROBE_QUEUE: &str = "registry-probe";

/// Probe a registry's remote servers now: every one (a pass of its interval, or one asked for), or the
/// latest versions not probed yet (a version that a sync or a publish just added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeRegistry {
    pub registry: RegistryName,
    pub scope: ProbeScope,
    pub trigger: Trigger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Job for ProbeRegistry {
    const QUEUE: &'static str = PROBE_QUEUE;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeScope {
    /// The latest version of every server.
    All,
    /// The latest versions without a result yet.
    New,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Manual,
    /// A Kubernetes watcher saw a change, a relist, or took over.
    Watch,
}

/// One job to push: its queue, its id, its encoded payload, the key that makes it unique in the queue, and when
/// it may run.
#[derive(Debug, Clone)]
pub(crate) struct QueuedTask {
    pub queue: &'static str,
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
    /// The first try of `job`, made now.
    pub(crate) fn new<J: Job>(
        job: &J,
        idempotency_key: Option<String>,
        run_after: Option<Duration>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            queue: J::QUEUE,
            id: ulid::Ulid::new().to_string(),
            payload: serde_json::to_vec(job)?,
            idempotency_key,
            run_after,
        })
    }

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
