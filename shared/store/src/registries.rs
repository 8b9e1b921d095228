//! The stored registry set: applied by the release step in config order, read by every replica, and a
//! registry dropped with its versions only when asked.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::content::ContentWrite;
use crate::dialect::{Dialect, sql};
use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::records::{Registry, RegistryChanges, VersionCount};
use crate::rows::{
    REGISTRY_COLUMNS, RegistryChange, RegistryRow, StoredRow, initial_sync_status, now, plan_registries,
};
use crate::timestamp::Timestamp;
use registry_core::model::RegistryName;
use registry_core::registry::RegistryConfig;

impl Store {
    /// Makes the stored registries match the configuration (the release step's job on PostgreSQL):
    /// upserts each in config order, resets the sync state of a registry whose source changed, and removes
    /// registries (with their data) that are gone. A managed registry that still holds versions is never
    /// removed this way: that is [`StoreError::ManagedRegistryRemoved`], and nothing changes (see
    /// [`Store::drop_registry`]). Returns what changed.
    pub async fn apply_registries(
        &self,
        registries: &[RegistryConfig],
    ) -> Result<RegistryChanges, StoreError> {
        on_backend!(self, db => {
            let mut tx = ContentWrite::<DB>::begin(&db.write, None).await?;
            let stored: Vec<StoredRow> = DB::fetch_all(tx.conn(), &mut sql!(DB; REGISTRY_COLUMNS)).await?;
            let now = now();
            let mut changes = RegistryChanges::default();
            for (row, change) in plan_registries(&stored, registries) {
                match change {
                    RegistryChange::New => {
                        // Its first generation is new, like every later one.
                        tx.touch(&row.name);
                        changes.added.push(row.name.clone());
                    }
                    RegistryChange::SourceChanged | RegistryChange::ScheduleChanged => {
                        changes.changed.push(row.name.clone());
                    }
                    RegistryChange::Same => continue,
                }
                upsert_registry(&mut tx, &row, change, now).await?;
            }
            for old in stored.iter().filter(|old| !registries.iter().any(|r| r.name.as_str() == old.name)) {
                remove_registry(&mut tx, old).await?;
                changes.removed.push(old.name.clone());
            }
            if !changes.is_empty() {
                // Order or membership may have changed, and with it which registry owns each name.
                tx.reshadow(None).await?;
            }
            tx.commit().await?;
            Ok(changes)
        })
    }

    /// Deletes a stored registry with all its versions; the number of versions, or `None` if it is unknown.
    pub async fn drop_registry(&self, registry: &RegistryName) -> Result<Option<i64>, StoreError> {
        on_backend!(self, db => {
            // The registry leaves the set, which readers key the aggregated view by: no generation to bump.
            let mut tx = ContentWrite::<DB>::begin(&db.write, None).await?;
            let versions = count_versions::<DB>(tx.conn(), registry.as_str()).await?;
            let mut delete = sql!(DB; "delete from registry where name = " {registry.as_str()});
            if DB::execute(tx.conn(), &mut delete).await? == 0 {
                return Ok(None);
            }
            tx.reshadow(None).await?;
            tx.commit().await?;
            Ok(Some(versions))
        })
    }

    /// The stored registry set, in config order: the truth at run time.
    pub async fn list_registries(&self) -> Result<Vec<Registry>, StoreError> {
        on_backend!(self, db => {
            let rows: Vec<StoredRow> = db.fetch_all(|| sql!(DB; REGISTRY_COLUMNS)).await?;
            rows.into_iter().map(Registry::try_from).collect()
        })
    }

    /// Stored server versions per (registry, status).
    pub async fn version_counts(&self) -> Result<Vec<VersionCount>, StoreError> {
        on_backend!(self, db => {
            db.fetch_all(|| sql!(DB;
                "select registry, status, count(*) as versions from server_version group by registry, status"
            ))
            .await
        })
    }

    /// This database's identity, made once by its migrations: content generations are unique only within
    /// one database, so a cache that several databases may share keys its entries by this too.
    pub async fn instance_id(&self) -> Result<String, StoreError> {
        on_backend!(self, db => {
            let rows: Vec<(String,)> = db.fetch_all(|| sql!(DB; "select id from registry_instance")).await?;
            let (id,) = rows
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::corrupt("registry_instance is empty"))?;
            Ok(id)
        })
    }
}

async fn count_versions<DB: Dialect>(tx: &mut DB::Connection, registry: &str) -> Result<i64, StoreError> {
    let mut count = sql!(DB; "select count(*) from server_version where registry = " {registry});
    let rows: Vec<(i64,)> = DB::fetch_all(tx, &mut count).await?;
    Ok(rows.first().map_or(0, |(versions,)| *versions))
}

/// Writes one registry's definition and moves its sync state as `change` asks.
async fn upsert_registry<DB: Dialect>(
    tx: &mut ContentWrite<DB>,
    row: &RegistryRow,
    change: RegistryChange,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut upsert = sql!(DB;
        "insert into registry (name, kind, format, source, filter, sync_interval_ms, max_entries, \
         full_sync_interval_ms, position, probe, probe_interval_ms, created_at, updated_at) values ("
        [&row.name, row.kind, row.format, Json(&row.source), Json(&row.filter), row.sync_interval_ms,
         row.max_entries, row.full_sync_interval_ms, row.position, Json(&row.probe), row.probe_interval_ms,
         Timestamp(now), Timestamp(now)]
        ") on conflict (name) do update set kind = excluded.kind, format = excluded.format, \
         source = excluded.source, filter = excluded.filter, sync_interval_ms = excluded.sync_interval_ms, \
         max_entries = excluded.max_entries, full_sync_interval_ms = excluded.full_sync_interval_ms, \
         position = excluded.position, probe = excluded.probe, probe_interval_ms = excluded.probe_interval_ms, \
         updated_at = excluded.updated_at"
    );
    if change != RegistryChange::New {
        // Probing turned on, off, or to another interval: the next pass is due at once, under the new
        // settings (read before the definition is written over).
        let mut due = sql!(DB;
            "update probe_schedule set next_due_at = null, updated_at = " {Timestamp(now)}
            " where registry = " {&row.name} " and exists (select 1 from registry where name = " {&row.name}
            " and coalesce(probe_interval_ms, 0) <> " {row.probe_interval_ms.unwrap_or(0)} ")"
        );
        DB::execute(tx.conn(), &mut due).await?;
    }
    DB::execute(tx.conn(), &mut upsert).await?;
    let (phase, message, due) = initial_sync_status(row, now);
    let (phase, due, now) = (phase.as_str(), due.map(Timestamp), Timestamp(now));
    let mut state = match change {
        RegistryChange::New => sql!(DB;
            "insert into sync_status (registry, phase, message, next_due_at, created_at, updated_at) \
             values (" [&row.name, phase, message, due, now, now] ") on conflict (registry) do nothing"
        ),
        // A sync queued or running keeps its mark; the sync that ends with the old definition sees the
        // change and leaves the registry due at once (see the worker's sync).
        RegistryChange::SourceChanged => sql!(DB;
            "update sync_status set \
             phase = case when phase in ('queued', 'syncing') then phase else " {phase} " end, \
             job_id = case when phase in ('queued', 'syncing') then job_id else null end, \
             message = " {message} ", next_due_at = " {due} ", updated_at = " {now} ", \
             content_hash = null, filter_hash = null, mirror = null, attempts = 0, last_error = null \
             where registry = " {&row.name}
        ),
        // A shorter interval takes effect now, not after the old one has run out.
        RegistryChange::ScheduleChanged => match row.sync_interval_ms {
            Some(ms) => {
                let sooner = Timestamp(now.0 + chrono::Duration::milliseconds(ms));
                sql!(DB;
                    "update sync_status set next_due_at = " {sooner} ", updated_at = " {now}
                    " where registry = " {&row.name} " and next_due_at > " {sooner}
                )
            }
            None => return Ok(()),
        },
        RegistryChange::Same => return Ok(()),
    };
    DB::execute(tx.conn(), &mut state).await?;
    Ok(())
}

/// Removes a registry that left the configuration, with its data; never a managed one that holds published
/// versions, which exist nowhere else and go only when an operator says so.
async fn remove_registry<DB: Dialect>(tx: &mut ContentWrite<DB>, old: &StoredRow) -> Result<(), StoreError> {
    if old.kind == "managed" {
        let versions = count_versions::<DB>(tx.conn(), &old.name).await?;
        if versions > 0 {
            return Err(StoreError::ManagedRegistryRemoved { registry: old.name.clone(), versions });
        }
    }
    DB::execute(tx.conn(), &mut sql!(DB; "delete from registry where name = " {&old.name})).await?;
    Ok(())
}
