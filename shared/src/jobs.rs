//! Jobs: serde structs, each with a fixed queue name and an `enqueue` function that the API, the CLI and the
//! scheduler all use. With the worker's `register_all`, this is the only module that touches apalis.

use apalis::prelude::{TaskBuilder, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::RegistryName;
use crate::store::{QueueSlot, Store, StoreError};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Manual,
    Startup,
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    Queued {
        job_id: String,
    },
    /// A sync of that registry was queued or running already; no second one was made.
    AlreadyQueued {
        job_id: Option<String>,
    },
}

impl Enqueued {
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Self::Queued { job_id } => Some(job_id),
            Self::AlreadyQueued { job_id } => job_id.as_deref(),
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
    /// Enqueues the sync unless one is queued or running for the registry. The registry is marked queued and
    /// the job pushed in one transaction. `slot`, for scheduled syncs, makes the job unique per (registry,
    /// slot) in the queue as well.
    pub async fn enqueue(
        &self,
        store: &Store,
        max_attempts: u32,
        slot: Option<DateTime<Utc>>,
    ) -> Result<Enqueued, JobError> {
        let job_id = ulid::Ulid::new().to_string();
        let mut task = TaskBuilder::new(serde_json::to_vec(self)?)
            .task_id(TaskId::from_string(job_id.clone()))
            .max_attempts(max_attempts as usize);
        if let Some(slot) = slot {
            task = task.idempotency_key(format!("{}@{}", self.registry, slot.timestamp_micros()));
        }
        let task = task.build();
        match store.claim_queue_slot(&self.registry, &job_id).await? {
            QueueSlot::Taken(existing) => return Ok(Enqueued::AlreadyQueued { job_id: existing }),
            QueueSlot::Postgres(mut tx) => {
                apalis_postgres::queries::push_tasks(&mut *tx, SYNC_QUEUE, vec![task])
                    .await
                    .map_err(|e| JobError::Queue(e.to_string()))?;
                tx.commit().await?;
            }
            QueueSlot::Sqlite(mut tx) => {
                apalis_sqlite::queries::push_tasks(&mut *tx, SYNC_QUEUE, &[task])
                    .await
                    .map_err(|e| JobError::Queue(e.to_string()))?;
                tx.commit().await?;
            }
        }
        Ok(Enqueued::Queued { job_id })
    }
}

/// The sync queue at a glance, read from the queue's tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueReport {
    /// Jobs per status (Pending, Queued, Running, Done, Failed, Killed).
    pub by_status: Vec<(String, i64)>,
    /// The most recent failed jobs.
    pub failed: Vec<FailedJob>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedJob {
    pub job_id: String,
    pub registry: Option<String>,
    pub attempts: i64,
    pub error: Option<String>,
}

/// How many failed jobs [`queue_report`] lists.
const FAILED_SHOWN: i64 = 20;

pub async fn queue_report(store: &Store) -> Result<QueueReport, JobError> {
    type Failed = (String, Option<String>, i64, Option<String>);
    let (by_status, failed): (Vec<(String, i64)>, Vec<Failed>) = match store {
        Store::Postgres(pg) => (
            sqlx::query_as("select status, count(*) from apalis.jobs where job_type = $1 group by status order by status")
                .bind(SYNC_QUEUE)
                .fetch_all(pg.pool())
                .await?,
            sqlx::query_as(
                "select id, convert_from(job, 'UTF8')::jsonb->>'registry', attempts::bigint, last_result::text \
                 from apalis.jobs where job_type = $1 and status in ('Failed', 'Killed') order by run_at desc limit $2",
            )
            .bind(SYNC_QUEUE)
            .bind(FAILED_SHOWN)
            .fetch_all(pg.pool())
            .await?,
        ),
        Store::Sqlite(sqlite) => (
            sqlx::query_as("select status, count(*) from Jobs where job_type = ?1 group by status order by status")
                .bind(SYNC_QUEUE)
                .fetch_all(sqlite.pool())
                .await?,
            sqlx::query_as(
                "select id, json_extract(cast(job as text), '$.registry'), attempts, last_result \
                 from Jobs where job_type = ?1 and status in ('Failed', 'Killed') order by run_at desc limit ?2",
            )
            .bind(SYNC_QUEUE)
            .bind(FAILED_SHOWN)
            .fetch_all(sqlite.pool())
            .await?,
        ),
    };
    let failed = failed
        .into_iter()
        .map(|(job_id, registry, attempts, error)| FailedJob { job_id, registry, attempts, error })
        .collect();
    Ok(QueueReport { by_status, failed })
}
