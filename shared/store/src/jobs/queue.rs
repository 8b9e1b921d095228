//! What is read from, and changed in, the queue's own tables: a job's state, the queue report, running a
//! waiting retry now, and releasing registries whose job has ended without recording a result. The
//! statements are each backend's (`SqlStore::JOB_STATE` and the like, in `postgres.rs` and `sqlite.rs`).

use serde::Serialize;

use super::{FailedRow, JobError, JobRow, SYNC_QUEUE};
use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::sql_store::SqlStore;

/// Where a job is, as far as the sync state needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Waiting, taken or running: it will record its result.
    Alive,
    /// Done, failed or killed; `result` is what the queue recorded.
    Ended { status: String, result: Option<String> },
    /// Not in the queue at all.
    Missing,
    /// The job that asks: it ends as it queues its next try.
    Replaced,
}

impl JobState {
    pub fn is_alive(&self) -> bool {
        matches!(self, Self::Alive)
    }

    /// Why a registry held by this job is released.
    pub fn ended(&self, job_id: Option<&str>) -> String {
        let job = job_id.unwrap_or("(none recorded)");
        match self {
            Self::Alive | Self::Replaced => format!("sync job {job} is replaced by its next try"),
            Self::Ended { status, result } => format!(
                "sync job {job} ended ({status}) without recording a result: {}",
                result.as_deref().unwrap_or("no result")
            ),
            Self::Missing => format!("sync job {job} is not in the queue"),
        }
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

/// How many failed jobs [`Store::queue_report`] lists.
const FAILED_SHOWN: i64 = 20;

impl Store {
    /// Where the job `job_id` is.
    pub async fn job_state(&self, job_id: &str) -> Result<JobState, JobError> {
        let row: Option<JobRow> = on_backend!(self, db => {
            sqlx::query_as(SqlStore::<DB>::JOB_STATE).bind(job_id).fetch_optional(&db.write).await
        })
        .map_err(StoreError::from)?;
        Ok(match row {
            None => JobState::Missing,
            Some((status, ..)) if matches!(status.as_str(), "Pending" | "Queued" | "Running") => {
                JobState::Alive
            }
            // The queue fetches a failed job again while it has attempts left.
            Some((status, attempts, max, _)) if status == "Failed" && attempts < max => JobState::Alive,
            Some((status, _, _, result)) => JobState::Ended { status, result },
        })
    }

    /// Makes a job that waits for its run time (a retry in backoff) runnable now.
    pub(crate) async fn run_job_now(&self, job_id: &str) -> Result<(), JobError> {
        on_backend!(self, db => {
            sqlx::query(SqlStore::<DB>::RUN_NOW).bind(job_id).execute(&db.write).await.map(drop)
        })
        .map_err(StoreError::from)?;
        Ok(())
    }

    /// Gives the jobs that the worker `worker` had taken back to the queue, so that another worker (or this
    /// one's next incarnation) takes them at once rather than after the heartbeat lapses. Returns how many.
    pub async fn release_worker_jobs(&self, worker: &str) -> Result<u64, JobError> {
        let done = on_backend!(self, db => {
            sqlx::query(SqlStore::<DB>::RELEASE_WORKER_JOBS).bind(worker).execute(&db.write).await.map(|r| r.rows_affected())
        });
        Ok(done.map_err(StoreError::from)?)
    }

    /// Puts every registry that is queued or syncing as a job that has ended (killed, lost, crashed) back to
    /// due, with the reason as its last error. Returns how many it released.
    pub async fn release_stuck(&self) -> Result<usize, JobError> {
        let mut released = 0;
        for (registry, job_id) in self.in_flight_syncs().await? {
            let state = match &job_id {
                Some(id) => self.job_state(id).await?,
                None => JobState::Missing,
            };
            if state.is_alive() {
                continue;
            }
            let reason = state.ended(job_id.as_deref());
            if self.release_sync(&registry, job_id.as_deref(), &reason).await? {
                tracing::warn!(registry.name = %registry, reason = %reason, "released a stuck sync; it is due again");
                released += 1;
            }
        }
        Ok(released)
    }

    /// How long the oldest sync job due to run has waited, in seconds; none when no job waits.
    pub async fn oldest_pending_age(&self) -> Result<Option<f64>, JobError> {
        let age = on_backend!(self, db => {
            sqlx::query_scalar(SqlStore::<DB>::OLDEST_PENDING_AGE).bind(SYNC_QUEUE).fetch_one(&db.write).await
        });
        Ok(age.map_err(StoreError::from)?)
    }

    /// The jobs of `queue` by status.
    pub async fn jobs_by_status(&self, queue: &str) -> Result<Vec<(String, i64)>, JobError> {
        let by_status = on_backend!(self, db => {
            sqlx::query_as(SqlStore::<DB>::JOBS_BY_STATUS).bind(queue).fetch_all(&db.write).await
        });
        Ok(by_status.map_err(StoreError::from)?)
    }

    /// The sync queue's jobs by status, and its most recent failed jobs.
    pub async fn queue_report(&self) -> Result<QueueReport, JobError> {
        let by_status = self.jobs_by_status(SYNC_QUEUE).await?;
        let failed: Vec<FailedRow> = on_backend!(self, db => {
            sqlx::query_as(SqlStore::<DB>::FAILED_JOBS)
                .bind(SYNC_QUEUE)
                .bind(FAILED_SHOWN)
                .fetch_all(&db.write)
                .await
                .map_err(StoreError::from)?
        });
        let failed = failed
            .into_iter()
            .map(|(job_id, registry, attempts, error)| FailedJob { job_id, registry, attempts, error })
            .collect();
        Ok(QueueReport { by_status, failed })
    }
}
