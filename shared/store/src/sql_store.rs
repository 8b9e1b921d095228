//! The store, written once over a [`Dialect`]: registries and reads. Writes of server versions are in
//! `writes.rs` and `status.rs`, over the content primitives of `content.rs`; the sync state is in
//! `sync_state.rs`.

use sqlx::types::Json;
use sqlx::{Pool, QueryBuilder};

use crate::content::ContentWrite;
use crate::dialect::{Dialect, Record, sql};
use crate::error::StoreError;
use crate::query::Cursor;
use crate::query::{ListQuery, Scope, VersionSelector};
use crate::records::{Registry, RegistryChanges, ServerPage, StoredVersion};
use crate::rows::{
    REGISTRY_COLUMNS, RegistryChange, StoredRow, VersionRow, initial_sync_status, now, plan_registries,
};
use crate::timestamp::Timestamp;
use registry_core::model::RegistryName;
use registry_core::registry::RegistryConfig;

/// A store on one backend. PostgreSQL uses one pool for both, or for the API a read pool and a write pool,
/// and a connection of its own for the generation listener; SQLite has reader connections and a single
/// writer.
#[derive(Debug)]
pub struct SqlStore<DB: Dialect> {
    pub(super) read: Pool<DB>,
    pub(super) write: Pool<DB>,
    /// The session connection that `LISTEN`s, for an API replica.
    pub(super) listen: Option<Pool<DB>>,
}

impl<DB: Dialect> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self { read: self.read.clone(), write: self.write.clone(), listen: self.listen.clone() }
    }
}

impl<DB: Dialect> SqlStore<DB> {
    pub(super) async fn fetch_all<R: Record>(&self, mut qb: QueryBuilder<DB>) -> Result<Vec<R>, StoreError> {
        let started = std::time::Instant::now();
        let mut conn = self.read.acquire().await?;
        metrics::histogram!(crate::metrics::DB_POOL_ACQUIRE, "pool" => "read")
            .record(started.elapsed().as_secs_f64());
        Ok(DB::fetch_all(&mut conn, &mut qb).await?)
    }

    pub(super) async fn apply_registries(
        &self,
        registries: &[RegistryConfig],
    ) -> Result<RegistryChanges, StoreError> {
        let mut tx = ContentWrite::<DB>::begin(&self.write, None).await?;
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
            let mut upsert = sql!(DB;
                "insert into registry (name, kind, format, source, filter, sync_interval_ms, max_entries, \
                 full_sync_interval_ms, position, created_at, updated_at) values ("
                [&row.name, row.kind, row.format, Json(&row.source), Json(&row.filter), row.sync_interval_ms,
                 row.max_entries, row.full_sync_interval_ms, row.position, Timestamp(now), Timestamp(now)]
                ") on conflict (name) do update set kind = excluded.kind, format = excluded.format, \
                 source = excluded.source, filter = excluded.filter, sync_interval_ms = excluded.sync_interval_ms, \
                 max_entries = excluded.max_entries, full_sync_interval_ms = excluded.full_sync_interval_ms, \
                 position = excluded.position, updated_at = excluded.updated_at"
            );
            DB::execute(tx.conn(), &mut upsert).await?;
            let (phase, message, due) = initial_sync_status(&row, now);
            let (phase, due, now) = (phase.as_str(), due.map(Timestamp), Timestamp(now));
            let mut state = match change {
                RegistryChange::New => sql!(DB;
                    "insert into sync_status (registry, phase, message, next_due_at, created_at, updated_at) \
                     values (" [&row.name, phase, message, due, now, now] ") on conflict (registry) do nothing"
                ),
                // A sync queued or running keeps its mark; the sync that ends with the old definition sees
                // the change and leaves the registry due at once (see the worker's sync).
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
                    None => continue,
                },
                RegistryChange::Same => continue,
            };
            DB::execute(tx.conn(), &mut state).await?;
        }
        for old in stored.iter().filter(|old| !registries.iter().any(|r| r.name.as_str() == old.name)) {
            // Published versions exist nowhere else: they go only when an operator says so.
            if old.kind == "managed" {
                let versions = count_versions::<DB>(tx.conn(), &old.name).await?;
                if versions > 0 {
                    return Err(StoreError::ManagedRegistryRemoved { registry: old.name.clone(), versions });
                }
            }
            DB::execute(tx.conn(), &mut sql!(DB; "delete from registry where name = " {&old.name})).await?;
            changes.removed.push(old.name.clone());
        }
        if !changes.is_empty() {
            // Order or membership may have changed, and with it which registry owns each name.
            tx.reshadow(None).await?;
        }
        tx.commit().await?;
        Ok(changes)
    }

    /// Deletes a registry and all its versions. Returns how many versions went, or `None` when no such
    /// registry is stored.
    pub(super) async fn drop_registry(&self, registry: &RegistryName) -> Result<Option<i64>, StoreError> {
        // The registry leaves the set, which readers key the aggregated view by: no generation to bump.
        let mut tx = ContentWrite::<DB>::begin(&self.write, None).await?;
        let versions = count_versions::<DB>(tx.conn(), registry.as_str()).await?;
        let mut delete = sql!(DB; "delete from registry where name = " {registry.as_str()});
        if DB::execute(tx.conn(), &mut delete).await? == 0 {
            return Ok(None);
        }
        tx.reshadow(None).await?;
        tx.commit().await?;
        Ok(Some(versions))
    }

    pub(super) async fn list_registries(&self) -> Result<Vec<Registry>, StoreError> {
        let rows: Vec<StoredRow> = self.fetch_all(sql!(DB; REGISTRY_COLUMNS)).await?;
        rows.into_iter().map(Registry::try_from).collect()
    }

    pub(super) async fn version_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.fetch_all(
            sql!(DB; "select registry, status, count(*) from server_version group by registry, status"),
        )
        .await
    }

    /// The read pool's connections: open, idle, and the most it opens.
    pub(super) fn read_pool(&self) -> (u32, usize, u32) {
        (self.read.size(), self.read.num_idle(), self.read.options().get_max_connections())
    }

    pub(super) async fn instance_id(&self) -> Result<String, StoreError> {
        let rows: Vec<(String,)> = self.fetch_all(sql!(DB; "select id from registry_instance")).await?;
        let (id,) = rows
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("registry_instance is empty".into()))?;
        Ok(id)
    }

    /// One page. The look-ahead row only tells that another page exists: it is dropped undecoded, and the
    /// cursor comes from the last row's key columns.
    pub(super) async fn list_servers(&self, query: &ListQuery) -> Result<ServerPage, StoreError> {
        let mut rows: Vec<VersionRow> = self.fetch_all(crate::sql::list::<DB>(query)).await?;
        let more = rows.len() > query.limit as usize;
        rows.truncate(query.limit as usize);
        let items = rows.into_iter().map(StoredVersion::try_from).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = more
            .then(|| items.last())
            .flatten()
            .map(|last| Cursor { name: last.name.clone(), version: last.version.clone() });
        Ok(ServerPage { items, next_cursor })
    }

    pub(super) async fn list_versions(
        &self,
        scope: &Scope,
        name: &str,
        include_deleted: bool,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        let rows: Vec<VersionRow> =
            self.fetch_all(crate::sql::versions::<DB>(scope, name, include_deleted)).await?;
        rows.into_iter().map(StoredVersion::try_from).collect()
    }

    pub(super) async fn publish_conflicts(
        &self,
        registry: &RegistryName,
        server: &registry_core::model::ServerJson,
    ) -> Result<Vec<crate::Conflict>, StoreError> {
        let mut conn = self.read.acquire().await?;
        crate::publishing::publish_conflicts::<DB>(&mut conn, registry, server).await
    }

    pub(super) async fn get_version(
        &self,
        scope: &Scope,
        name: &str,
        selector: &VersionSelector,
        include_deleted: bool,
    ) -> Result<Option<StoredVersion>, StoreError> {
        let rows: Vec<VersionRow> =
            self.fetch_all(crate::sql::version::<DB>(scope, name, selector, include_deleted)).await?;
        rows.into_iter().next().map(StoredVersion::try_from).transpose()
    }
}

async fn count_versions<DB: Dialect>(tx: &mut DB::Connection, registry: &str) -> Result<i64, StoreError> {
    let mut count = sql!(DB; "select count(*) from server_version where registry = " {registry});
    let rows: Vec<(i64,)> = DB::fetch_all(tx, &mut count).await?;
    Ok(rows.first().map_or(0, |(versions,)| *versions))
}
