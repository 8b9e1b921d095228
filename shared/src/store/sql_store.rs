//! The store, written once over a [`Dialect`]: registries and reads. Writes of server versions are in
//! `writes.rs` and `status.rs`, over the content primitives of `content.rs`; the sync state is in
//! `sync_state.rs`.

use std::time::Duration;

use serde_json::value::RawValue;
use sqlx::{Pool, QueryBuilder};

use super::content::ContentWrite;
use super::dialect::{Bind, Dialect, Row, statement};
use super::query::{ListQuery, Scope, VersionSelector};
use super::{
    Cursor, Registry, RegistryChange, RegistryChanges, ServerPage, StoreError, StoredRow, StoredVersion,
    initial_sync_status, now, official, parse_format, parse_registry_name, plan_registries,
};
use crate::config::RegistryConfig;
use crate::model::RegistryName;

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
    pub(super) async fn fetch_all(&self, mut qb: QueryBuilder<DB>) -> Result<Vec<Row<DB>>, StoreError> {
        let mut conn = self.read.acquire().await?;
        Ok(DB::fetch_all(&mut conn, &mut qb).await?)
    }

    pub(super) async fn apply_registries(
        &self,
        registries: &[RegistryConfig],
    ) -> Result<RegistryChanges, StoreError> {
        let mut tx = ContentWrite::<DB>::begin(&self.write, None).await?;
        let mut select = statement::<DB>(
            "select name, kind, format, source, filter, sync_interval_ms, position from registry",
            [],
        );
        let stored = DB::fetch_all(tx.conn(), &mut select)
            .await?
            .iter()
            .map(|row| {
                Ok(StoredRow {
                    name: DB::text(row, "name")?,
                    kind: DB::text(row, "kind")?,
                    format: DB::text(row, "format")?,
                    source: DB::json(row, "source")?,
                    filter: DB::json(row, "filter")?,
                    sync_interval_ms: DB::int(row, "sync_interval_ms")?,
                    position: int32(DB::int(row, "position")?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
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
            let mut upsert = statement::<DB>(
                "insert into registry (name, kind, format, source, filter, sync_interval_ms, position, \
                 created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 on conflict (name) do update set kind = excluded.kind, format = excluded.format, \
                 source = excluded.source, filter = excluded.filter, sync_interval_ms = excluded.sync_interval_ms, \
                 position = excluded.position, updated_at = excluded.updated_at",
                [
                    Bind::Text(row.name.clone()),
                    row.kind.into(),
                    row.format.into(),
                    Bind::Json(row.source.clone()),
                    Bind::Json(row.filter.clone()),
                    Bind::OptInt(row.sync_interval_ms),
                    Bind::Int(i64::from(row.position)),
                    now.into(),
                    now.into(),
                ],
            );
            DB::execute(tx.conn(), &mut upsert).await?;
            let (phase, message, due) = initial_sync_status(&row, now);
            let (phase, message, name) =
                (Bind::from(phase.as_str()), Bind::from(message), Bind::Text(row.name.clone()));
            let mut state = match change {
                RegistryChange::New => statement::<DB>(
                    "insert into sync_status (registry, phase, message, next_due_at, created_at, updated_at) \
                     values (?, ?, ?, ?, ?, ?) on conflict (registry) do nothing",
                    [name, phase, message, Bind::OptTime(due), now.into(), now.into()],
                ),
                // A sync queued or running keeps its mark; the sync that ends with the old definition sees
                // the change and leaves the registry due at once (see the worker's sync).
                RegistryChange::SourceChanged => statement::<DB>(
                    "update sync_status set \
                     phase = case when phase in ('queued', 'syncing') then phase else ? end, \
                     job_id = case when phase in ('queued', 'syncing') then job_id else null end, \
                     message = ?, next_due_at = ?, updated_at = ?, content_hash = null, filter_hash = null, \
                     attempts = 0, last_error = null where registry = ?",
                    [phase, message, Bind::OptTime(due), now.into(), name],
                ),
                // A shorter interval takes effect now, not after the old one has run out.
                RegistryChange::ScheduleChanged => match row.sync_interval_ms {
                    Some(ms) => {
                        let sooner = now + chrono::Duration::milliseconds(ms);
                        statement::<DB>(
                            "update sync_status set next_due_at = ?, updated_at = ? \
                             where registry = ? and next_due_at > ?",
                            [sooner.into(), now.into(), name, sooner.into()],
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
            DB::execute(
                tx.conn(),
                &mut statement("delete from registry where name = ?", [old.name.as_str().into()]),
            )
            .await?;
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
        let mut delete = statement::<DB>("delete from registry where name = ?", [registry.as_str().into()]);
        if DB::execute(tx.conn(), &mut delete).await? == 0 {
            return Ok(None);
        }
        tx.reshadow(None).await?;
        tx.commit().await?;
        Ok(Some(versions))
    }

    pub(super) async fn list_registries(&self) -> Result<Vec<Registry>, StoreError> {
        let select = statement(
            "select r.name, r.kind, r.format, r.source, r.filter, r.sync_interval_ms, r.position, \
             coalesce(g.generation, 0) as generation, r.created_at, r.updated_at \
             from registry r left join content_generation g on g.registry = r.name order by r.position",
            [],
        );
        self.fetch_all(select)
            .await?
            .iter()
            .map(|row| {
                Ok(Registry {
                    name: parse_registry_name(&DB::text(row, "name")?)?,
                    kind: DB::text(row, "kind")?,
                    format: parse_format(&DB::text(row, "format")?)?,
                    source: DB::json(row, "source")?,
                    filter: DB::json(row, "filter")?,
                    sync_interval: DB::int(row, "sync_interval_ms")?
                        .map(|ms| Duration::from_millis(ms.unsigned_abs())),
                    position: int32(DB::int(row, "position")?),
                    generation: DB::int(row, "generation")?.unwrap_or_default(),
                    created_at: DB::time(row, "created_at")?,
                    updated_at: DB::time(row, "updated_at")?,
                })
            })
            .collect()
    }

    pub(super) async fn instance_id(&self) -> Result<String, StoreError> {
        let rows = self.fetch_all(statement("select id from registry_instance", [])).await?;
        let row = rows.first().ok_or_else(|| StoreError::Corrupt("registry_instance is empty".into()))?;
        DB::text(row, "id")
    }

    /// One page. The look-ahead row only tells that another page exists: it is dropped undecoded, and the
    /// cursor comes from the last row's key columns.
    pub(super) async fn list_servers(&self, query: &ListQuery) -> Result<ServerPage, StoreError> {
        let mut rows = self.fetch_all(super::sql::list::<DB>(query)).await?;
        let more = rows.len() > query.limit as usize;
        rows.truncate(query.limit as usize);
        let items = rows.iter().map(stored::<DB>).collect::<Result<Vec<_>, _>>()?;
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
        let rows = self.fetch_all(super::sql::versions::<DB>(scope, name, include_deleted)).await?;
        rows.iter().map(stored::<DB>).collect()
    }

    pub(super) async fn publish_conflicts(
        &self,
        registry: &RegistryName,
        server: &crate::model::ServerJson,
    ) -> Result<Vec<super::Conflict>, StoreError> {
        let mut conn = self.read.acquire().await?;
        super::publishing::publish_conflicts::<DB>(&mut conn, registry, server).await
    }

    pub(super) async fn get_version(
        &self,
        scope: &Scope,
        name: &str,
        selector: &VersionSelector,
        include_deleted: bool,
    ) -> Result<Option<StoredVersion>, StoreError> {
        let rows = self.fetch_all(super::sql::version::<DB>(scope, name, selector, include_deleted)).await?;
        rows.first().map(stored::<DB>).transpose()
    }
}

async fn count_versions<DB: Dialect>(tx: &mut DB::Connection, registry: &str) -> Result<i64, StoreError> {
    let mut count = statement::<DB>(
        "select count(*) as versions from server_version where registry = ?",
        [registry.into()],
    );
    let rows = DB::fetch_all(tx, &mut count).await?;
    Ok(rows.first().map(|row| DB::int(row, "versions")).transpose()?.flatten().unwrap_or_default())
}

/// Counts are stored as 32-bit integers; a wider value cannot have been written by us.
pub(super) fn int32(value: Option<i64>) -> i32 {
    value.and_then(|v| i32::try_from(v).ok()).unwrap_or_default()
}

/// A served version: the body is checked to be JSON, never deserialised into a document.
fn stored<DB: Dialect>(row: &Row<DB>) -> Result<StoredVersion, StoreError> {
    let row = DB::version_row(row)?;
    Ok(StoredVersion {
        registry: parse_registry_name(&row.registry)?,
        body: RawValue::from_string(row.body)
            .map_err(|e| StoreError::Corrupt(format!("the body of {} {}: {e}", row.name, row.version)))?,
        name: row.name,
        version: row.version,
        official: official(
            &row.status,
            row.status_message,
            row.status_changed_at.0,
            row.published_at.0,
            row.updated_at.0,
            row.is_latest,
        )?,
    })
}
