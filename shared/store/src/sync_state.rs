//! The sync state of registries (one `sync_status` row each): read and written by the sync jobs, claimed by
//! the scheduler when due, marked queued with the job that will sync it, and released when that job ended
//! without saying how (killed, lost, panicked), so no registry stays queued or syncing forever.

use chrono::{DateTime, Utc};

use crate::dialect::{Dialect, sql};
use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::jobs::task::QueuedTask;
use crate::records::DueSync;
use crate::rows::{SYNC_STATUS_COLUMNS, SyncStatusRow, now, parse_registry_name};
use crate::sql_store::SqlStore;
use crate::timestamp::Timestamp;
use registry_core::model::RegistryName;
use registry_core::sync::SyncStatus;

/// The JSON reports kept beside a sync status.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Report {
    Discovery,
    Watcher,
}

impl Report {
    fn as_str(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Watcher => "watcher",
        }
    }
}

/// What a claim of a registry's sync found.
pub(crate) enum Claim {
    /// The registry is marked queued, and the job pushed with the mark.
    Queued,
    /// A sync is queued or running already, as this job (if one is recorded); nothing changed.
    HeldBy(Option<String>),
}

impl Store {
    /// Marks a registry queued with the task's job and pushes the task, in one transaction, so the mark and
    /// the job become visible together; unless a sync is queued or running already.
    pub(crate) async fn claim_and_push(
        &self,
        registry: &RegistryName,
        task: &QueuedTask,
    ) -> Result<Claim, StoreError> {
        on_backend!(self, db => {
            let mut tx = DB::begin_write(&db.write, None).await?;
            // The queued job lists after every request made so far: they are answered.
            let mut mark = sql!(DB;
                "update sync_status set phase = 'queued', job_id = " {task.id.as_str()} ", requested_at = null, \
                 updated_at = " {Timestamp(now())}
                " where registry = " {registry.as_str()} " and phase not in ('queued', 'syncing')"
            );
            if DB::execute(&mut tx, &mut mark).await? == 1 {
                SqlStore::<DB>::push_task(&mut tx, task).await?;
                tx.commit().await?;
                return Ok(Claim::Queued);
            }
            let mut current = sql!(DB; "select job_id from sync_status where registry = " {registry.as_str()});
            let rows: Vec<(Option<String>,)> = DB::fetch_all(&mut tx, &mut current).await?;
            let (job,) = rows.into_iter().next().ok_or_else(|| StoreError::UnknownRegistry(registry.clone()))?;
            Ok(Claim::HeldBy(job))
        })
    }
}

impl Store {
    /// Records a kubernetes registry's last discovery report (see [`SyncStatus::discovery`]).
    pub async fn put_discovery(
        &self,
        registry: &RegistryName,
        report: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.put_report(registry, Report::Discovery, report).await
    }

    /// Records a kubernetes registry's watcher state (see [`SyncStatus::watcher`]).
    pub async fn put_watcher(
        &self,
        registry: &RegistryName,
        state: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.put_report(registry, Report::Watcher, state).await
    }

    /// Writes one of the JSON reports kept beside a registry's sync status (`discovery` or `watcher`).
    async fn put_report(
        &self,
        registry: &RegistryName,
        column: Report,
        report: &serde_json::Value,
    ) -> Result<(), StoreError> {
        on_backend!(self, db => {
            let mut update = sql!(DB; "update sync_status set ");
            update.push(column.as_str()).push(" = ");
            DB::bind(&mut update, sqlx::types::Json(report));
            update.push(" where registry = ");
            DB::bind(&mut update, registry.as_str());
            let mut conn = db.write.acquire().await?;
            if DB::execute(&mut conn, &mut update).await? == 0 {
                return Err(StoreError::UnknownRegistry(registry.clone()));
            }
            Ok(())
        })
    }

    pub async fn sync_status(&self, registry: &RegistryName) -> Result<Option<SyncStatus>, StoreError> {
        on_backend!(self, db => {
            let select = || sql!(DB; SYNC_STATUS_COLUMNS " where registry = " {registry.as_str()});
            let rows: Vec<SyncStatusRow> = db.fetch_all(select).await?;
            rows.into_iter().next().map(SyncStatus::try_from).transpose()
        })
    }

    pub async fn put_sync_status(&self, status: &SyncStatus) -> Result<(), StoreError> {
        on_backend!(self, db => {
            let time = |t: Option<DateTime<Utc>>| t.map(Timestamp);
            let mut update = sql!(DB;
                "update sync_status set phase = " {status.phase.as_str()}
                ", message = " {status.message.as_deref()}
                ", last_attempt_at = " {time(status.last_attempt_at)}
                ", last_success_at = " {time(status.last_success_at)}
                ", next_due_at = " {time(status.next_due_at)}
                ", attempts = " {status.attempts}
                ", last_error = " {status.last_error.as_deref()}
                ", content_hash = " {status.content_hash.as_deref()}
                ", filter_hash = " {status.filter_hash.as_deref()}
                ", server_count = " {status.server_count}
                ", last_duration_ms = " {status.last_duration_ms}
                ", job_id = " {status.job_id.as_deref()}
                ", mirror = " {status.mirror.as_ref().map(sqlx::types::Json)}
                // A sync that starts lists after every request made so far: they are answered.
                ", requested_at = case when " {status.phase.as_str()} " = 'syncing' then null else requested_at end"
                ", updated_at = " {Timestamp(now())}
                " where registry = " {status.registry.as_str()}
            );
            let mut conn = db.write.acquire().await?;
            if DB::execute(&mut conn, &mut update).await? == 0 {
                return Err(StoreError::UnknownRegistry(status.registry.clone()));
            }
            Ok(())
        })
    }

    /// Claims the registries whose sync is due (`next_due_at <= now`, not queued or syncing, scheduled) and
    /// moves each one's `next_due_at` a sync interval past `now`, in one transaction; the caller enqueues
    /// their jobs. Concurrent callers, from
    /// any number of replicas, never claim the same registry for the same slot.
    pub async fn claim_due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueSync>, StoreError> {
        on_backend!(self, db => {
            let mut tx = DB::begin_write(&db.write, None).await?;
            // A requested sync is due at once; its slot is the time it was asked for.
            let mut due = sql!(DB;
                "select s.registry, coalesce(s.requested_at, s.next_due_at) as slot, r.sync_interval_ms, \
                 s.requested_at is not null as requested \
                 from sync_status s join registry r on r.name = s.registry \
                 where (s.next_due_at <= " {Timestamp(now)} " or s.requested_at is not null) \
                 and r.sync_interval_ms is not null and s.phase not in ('queued', 'syncing') \
                 order by slot limit " {i64::from(limit)}
            );
            due.push(DB::CLAIM_ROWS);
            let rows: Vec<(String, Timestamp, i64, bool)> = DB::fetch_all(&mut tx, &mut due).await?;
            let mut claimed = Vec::with_capacity(rows.len());
            for (registry, slot, interval_ms, requested) in rows {
                let registry = parse_registry_name(&registry)?;
                let next = Timestamp(now + chrono::Duration::milliseconds(interval_ms));
                let mut claim = sql!(DB;
                    "update sync_status set next_due_at = " {next} ", updated_at = " {Timestamp(now)}
                    " where registry = " {registry.as_str()}
                );
                DB::execute(&mut tx, &mut claim).await?;
                claimed.push(DueSync { registry, slot: slot.0, requested });
            }
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// See [`SyncStatus::requested_at`]: a Kubernetes watcher's way to ask for a discovery.
    pub async fn request_sync(&self, registry: &RegistryName) -> Result<bool, StoreError> {
        on_backend!(self, db => {
            let now = Timestamp(now());
            let mut request = sql!(DB;
                "update sync_status set requested_at = coalesce(requested_at, " {now} "), updated_at = " {now}
                " where registry = " {registry.as_str()}
            );
            let mut conn = db.write.acquire().await?;
            Ok(DB::execute(&mut conn, &mut request).await? == 1)
        })
    }

    /// The registries queued or syncing, with the job that holds each (`None` if none is recorded).
    pub async fn in_flight_syncs(&self) -> Result<Vec<(RegistryName, Option<String>)>, StoreError> {
        on_backend!(self, db => {
            let select =
                || sql!(DB; "select registry, job_id from sync_status where phase in ('queued', 'syncing')");
            let rows: Vec<(String, Option<String>)> = db.fetch_all(select).await?;
            rows.into_iter().map(|(registry, job)| Ok((parse_registry_name(&registry)?, job))).collect()
        })
    }

    /// Puts a registry that is queued or syncing as `job_id` back to due now, recording `reason` as its last
    /// error and a failed attempt, unless another job holds it by now. Returns whether it did.
    pub async fn release_sync(
        &self,
        registry: &RegistryName,
        job_id: Option<&str>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        on_backend!(self, db => {
            let now = Timestamp(now());
            let mut release = sql!(DB;
                "update sync_status set phase = 'failed', job_id = null, next_due_at = " {now}
                ", attempts = attempts + 1, last_error = " {reason} ", updated_at = " {now}
                " where registry = " {registry.as_str()} " and phase in ('queued', 'syncing') and "
            );
            match job_id {
                Some(id) => {
                    release.push("job_id = ");
                    DB::bind(&mut release, id);
                }
                None => {
                    release.push("job_id is null");
                }
            }
            let mut conn = db.write.acquire().await?;
            Ok(DB::execute(&mut conn, &mut release).await? == 1)
        })
    }
}
