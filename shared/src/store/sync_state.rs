//! The sync state of registries (one `sync_status` row each): read and written by the sync jobs, claimed by
//! the scheduler when due, marked queued with the job that will sync it, and released when that job ended
//! without saying how (killed, lost, panicked), so no registry stays queued or syncing forever.

use chrono::{DateTime, Utc};
use sqlx::Transaction;

use super::dialect::{Bind, Dialect, statement};
use super::sql_store::{SqlStore, int32};
use super::{DueSync, StoreError, SyncPhase, SyncStatus, now, parse_registry_name};
use crate::model::RegistryName;

impl<DB: Dialect> SqlStore<DB> {
    pub(super) async fn sync_status(
        &self,
        registry: &RegistryName,
    ) -> Result<Option<SyncStatus>, StoreError> {
        let select = statement(
            "select registry, phase, message, last_attempt_at, last_success_at, next_due_at, attempts, last_error, \
             content_hash, filter_hash, server_count, last_duration_ms, job_id from sync_status where registry = ?",
            [registry.as_str().into()],
        );
        let rows = self.fetch_all(select).await?;
        rows.first()
            .map(|row| {
                Ok(SyncStatus {
                    registry: parse_registry_name(&DB::text(row, "registry")?)?,
                    phase: SyncPhase::parse(&DB::text(row, "phase")?)?,
                    message: DB::opt_text(row, "message")?,
                    last_attempt_at: DB::opt_time(row, "last_attempt_at")?,
                    last_success_at: DB::opt_time(row, "last_success_at")?,
                    next_due_at: DB::opt_time(row, "next_due_at")?,
                    attempts: int32(DB::int(row, "attempts")?),
                    last_error: DB::opt_text(row, "last_error")?,
                    content_hash: DB::opt_text(row, "content_hash")?,
                    filter_hash: DB::opt_text(row, "filter_hash")?,
                    server_count: int32(DB::int(row, "server_count")?),
                    last_duration_ms: DB::int(row, "last_duration_ms")?,
                    job_id: DB::opt_text(row, "job_id")?,
                })
            })
            .transpose()
    }

    pub(super) async fn put_sync_status(&self, status: &SyncStatus) -> Result<(), StoreError> {
        let mut update = statement::<DB>(
            "update sync_status set phase = ?, message = ?, last_attempt_at = ?, last_success_at = ?, \
             next_due_at = ?, attempts = ?, last_error = ?, content_hash = ?, filter_hash = ?, \
             server_count = ?, last_duration_ms = ?, job_id = ?, updated_at = ? where registry = ?",
            [
                status.phase.as_str().into(),
                status.message.as_deref().into(),
                Bind::OptTime(status.last_attempt_at),
                Bind::OptTime(status.last_success_at),
                Bind::OptTime(status.next_due_at),
                Bind::Int(i64::from(status.attempts)),
                status.last_error.as_deref().into(),
                status.content_hash.as_deref().into(),
                status.filter_hash.as_deref().into(),
                Bind::Int(i64::from(status.server_count)),
                Bind::OptInt(status.last_duration_ms),
                status.job_id.as_deref().into(),
                now().into(),
                status.registry.as_str().into(),
            ],
        );
        let mut conn = self.write.acquire().await?;
        if DB::execute(&mut conn, &mut update).await? == 0 {
            return Err(StoreError::UnknownRegistry(status.registry.clone()));
        }
        Ok(())
    }

    pub(super) async fn claim_due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueSync>, StoreError> {
        let mut tx = DB::begin_write(&self.write, None).await?;
        let mut due = statement::<DB>(
            &format!(
                "select s.registry, s.next_due_at, r.sync_interval_ms from sync_status s \
                 join registry r on r.name = s.registry \
                 where s.next_due_at <= ? and r.sync_interval_ms is not null \
                 and s.phase not in ('queued', 'syncing') order by s.next_due_at limit ?{}",
                DB::CLAIM_ROWS
            ),
            [now.into(), Bind::Int(i64::from(limit))],
        );
        let rows = DB::fetch_all(&mut tx, &mut due).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let registry = parse_registry_name(&DB::text(row, "registry")?)?;
            let slot = DB::time(row, "next_due_at")?;
            let interval =
                chrono::Duration::milliseconds(DB::int(row, "sync_interval_ms")?.unwrap_or_default());
            let mut claim = statement::<DB>(
                "update sync_status set next_due_at = ?, updated_at = ? where registry = ?",
                [(now + interval).into(), now.into(), registry.as_str().into()],
            );
            DB::execute(&mut tx, &mut claim).await?;
            claimed.push(DueSync { registry, slot });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Marks a registry queued with `job_id`, unless a sync is queued or running already, and returns the
    /// open transaction so the job can be pushed in it: the mark and the job become visible together.
    pub(super) async fn claim_queue_slot(
        &self,
        registry: &RegistryName,
        job_id: &str,
    ) -> Result<Result<Transaction<'static, DB>, Option<String>>, StoreError> {
        let mut tx = DB::begin_write(&self.write, None).await?;
        let mut mark = statement::<DB>(
            "update sync_status set phase = 'queued', job_id = ?, updated_at = ? \
             where registry = ? and phase not in ('queued', 'syncing')",
            [job_id.into(), now().into(), registry.as_str().into()],
        );
        if DB::execute(&mut tx, &mut mark).await? == 1 {
            return Ok(Ok(tx));
        }
        let mut current =
            statement::<DB>("select job_id from sync_status where registry = ?", [registry.as_str().into()]);
        let rows = DB::fetch_all(&mut tx, &mut current).await?;
        let row = rows.first().ok_or_else(|| StoreError::UnknownRegistry(registry.clone()))?;
        Ok(Err(DB::opt_text(row, "job_id")?))
    }

    /// The registries queued or syncing, with the job that holds each.
    pub(super) async fn in_flight_syncs(&self) -> Result<Vec<(RegistryName, Option<String>)>, StoreError> {
        let select =
            statement("select registry, job_id from sync_status where phase in ('queued', 'syncing')", []);
        self.fetch_all(select)
            .await?
            .iter()
            .map(|row| Ok((parse_registry_name(&DB::text(row, "registry")?)?, DB::opt_text(row, "job_id")?)))
            .collect()
    }

    /// Puts a registry that is queued or syncing as `job_id` back to due now, recording `reason` as a failed
    /// attempt. Nothing changes when another job holds it by now. Returns whether it was released.
    pub(super) async fn release_sync(
        &self,
        registry: &RegistryName,
        job_id: Option<&str>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let now = now();
        let mut release = statement::<DB>(
            "update sync_status set phase = 'failed', job_id = null, next_due_at = ?, attempts = attempts + 1, \
             last_error = ?, updated_at = ? where registry = ? and phase in ('queued', 'syncing') and ",
            [now.into(), reason.into(), now.into(), registry.as_str().into()],
        );
        match job_id {
            Some(id) => {
                release.push("job_id = ");
                DB::push(&mut release, Bind::Text(id.to_owned()));
            }
            None => {
                release.push("job_id is null");
            }
        }
        let mut conn = self.write.acquire().await?;
        Ok(DB::execute(&mut conn, &mut release).await? == 1)
    }
}
