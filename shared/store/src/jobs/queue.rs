//! What is read from, and changed in, the queue's own tables: a job's state, the queue report, running a
//! waiting retry now, and releasing registries whose job has ended without recording a result.

use serde::Serialize;

use super::{JobError, SYNC_QUEUE};
use crate::Store;

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

pub async fn job_state(store: &Store, job_id: &str) -> Result<JobState, JobError> {
    type Row = (String, i64, i64, Option<String>);
    let row: Option<Row> =
        match store {
            Store::Postgres(pg) => sqlx::query_as(
                "select status, attempts::bigint, max_attempts::bigint, last_result::text from apalis.jobs \
                 where id = $1",
            )
            .bind(job_id)
            .fetch_optional(pg.pool())
            .await?,
            Store::Sqlite(sqlite) => {
                sqlx::query_as("select status, attempts, max_attempts, last_result from Jobs where id = ?1")
                    .bind(job_id)
                    .fetch_optional(sqlite.pool())
                    .await?
            }
        };
    Ok(match row {
        None => JobState::Missing,
        Some((status, ..)) if matches!(status.as_str(), "Pending" | "Queued" | "Running") => JobState::Alive,
        // The queue fetches a failed job again while it has attempts left.
        Some((status, attempts, max, _)) if status == "Failed" && attempts < max => JobState::Alive,
        Some((status, _, _, result)) => JobState::Ended { status, result },
    })
}

/// Makes a job that waits for its run time (a retry in backoff) runnable now.
pub(super) async fn run_now(store: &Store, job_id: &str) -> Result<(), JobError> {
    match store {
        Store::Postgres(pg) => {
            sqlx::query("update apalis.jobs set run_at = now() where id = $1 and status = 'Pending' and run_at > now()")
                .bind(job_id)
                .execute(pg.pool())
                .await?;
        }
        Store::Sqlite(sqlite) => {
            sqlx::query(
                "update Jobs set run_at = strftime('%s', 'now') where id = ?1 and status = 'Pending' \
                 and run_at > strftime('%s', 'now')",
            )
            .bind(job_id)
            .execute(sqlite.pool())
            .await?;
        }
    }
    Ok(())
}

/// Gives the jobs that the worker `worker` had taken back to the queue, so that another worker (or this
/// one's next incarnation) takes them at once rather than after the heartbeat lapses. Returns how many.
pub async fn release_worker_jobs(store: &Store, worker: &str) -> Result<u64, JobError> {
    let released = match store {
        Store::Postgres(pg) => sqlx::query(
            "update apalis.jobs set status = 'Pending', lock_by = null, lock_at = null \
             where lock_by = $1 and status in ('Queued', 'Running')",
        )
        .bind(worker)
        .execute(pg.pool())
        .await?
        .rows_affected(),
        Store::Sqlite(sqlite) => sqlx::query(
            "update Jobs set status = 'Pending', lock_by = null, lock_at = null \
             where lock_by = ?1 and status in ('Queued', 'Running')",
        )
        .bind(worker)
        .execute(sqlite.pool())
        .await?
        .rows_affected(),
    };
    Ok(released)
}

/// Puts every registry that is queued or syncing as a job that has ended (killed, lost, crashed) back to due,
/// with the reason as its last error. Returns how many it released.
pub async fn release_stuck(store: &Store) -> Result<usize, JobError> {
    let mut released = 0;
    for (registry, job_id) in store.in_flight_syncs().await? {
        let state = match &job_id {
            Some(id) => job_state(store, id).await?,
            None => JobState::Missing,
        };
        if state.is_alive() {
            continue;
        }
        let reason = state.ended(job_id.as_deref());
        if store.release_sync(&registry, job_id.as_deref(), &reason).await? {
            tracing::warn!(registry.name = %registry, reason = %reason, "released a stuck sync; it is due again");
            released += 1;
        }
    }
    Ok(released)
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

/// How long the oldest sync job due to run has waited, in seconds; none when no job waits.
pub async fn oldest_pending_age(store: &Store) -> Result<Option<f64>, JobError> {
    let age: Option<f64> = match store {
        Store::Postgres(pg) => {
            sqlx::query_scalar(
                "select extract(epoch from now() - min(run_at))::float8 from apalis.jobs \
                 where job_type = $1 and status = 'Pending' and run_at <= now()",
            )
            .bind(SYNC_QUEUE)
            .fetch_one(pg.pool())
            .await?
        }
        Store::Sqlite(sqlite) => {
            sqlx::query_scalar(
                "select cast(strftime('%s', 'now') as integer) - min(run_at) * 1.0 from Jobs \
                 where job_type = ?1 and status = 'Pending' and run_at <= cast(strftime('%s', 'now') as integer)",
            )
            .bind(SYNC_QUEUE)
            .fetch_one(sqlite.pool())
            .await?
        }
    };
    Ok(age)
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
