//! The PostgreSQL backend: JSONB bodies, trigram-indexed substring search, bulk writes through `unnest`, and
//! an advisory lock per server for managed writes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Row, Transaction};

use super::query::{ListQuery, Scope, VersionSelector};
use super::snapshot::{self, ExistingRow, Key};
use super::sql::{self, Dialect};
use super::*;
use crate::config::{PostgresConfig, Role};

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl Dialect for Postgres {
    fn push_text(qb: &mut QueryBuilder<Self>, value: String) {
        qb.push_bind(value);
    }

    fn push_int(qb: &mut QueryBuilder<Self>, value: i64) {
        qb.push_bind(value);
    }

    fn push_time(qb: &mut QueryBuilder<Self>, value: DateTime<Utc>) {
        qb.push_bind(value);
    }

    fn push_search(qb: &mut QueryBuilder<Self>, query: &ListQuery) {
        let pattern = query.like_pattern().unwrap_or_default();
        qb.push("(sv.name ilike ").push_bind(pattern.clone());
        qb.push(" or sv.title ilike ").push_bind(pattern.clone());
        qb.push(" or sv.description ilike ").push_bind(pattern).push(")");
    }
}

const EXISTING_COLUMNS: &str = "select name, version, body_hash, status, status_message, status_changed_at, \
     published_at, is_latest from server_version where registry = $1";
const EXISTING_FOR_UPDATE: &str = "select name, version, body_hash, status, status_message, status_changed_at, \
     published_at, is_latest from server_version where registry = $1 and name = $2 for update";

impl PgStore {
    /// A pool for the application role. Connections open on first use, so a replica starts (and reports
    /// not-ready) while the database is still down.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        let options = config.connect_options(Role::App)?;
        let pool = pool_options(config, config.max_open_conns).connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// A pool for `role` that connects now, so a wrong address or password fails here.
    pub(crate) async fn connect_as(
        config: &PostgresConfig,
        role: Role,
        max: u32,
    ) -> Result<Self, StoreError> {
        let options = config.connect_options(role)?;
        Ok(Self { pool: pool_options(config, max).connect_with(options).await? })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(super) async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        migrate::state_postgres(self).await
    }

    pub(super) async fn sync_registries(&self, registries: &[RegistryConfig]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("lock table registry in share row exclusive mode").execute(&mut *tx).await?;
        let stored = stored_sources(
            sqlx::query_as("select name, kind, format, source::text, filter::text from registry")
                .fetch_all(&mut *tx)
                .await?,
        );
        let now = now();
        for (row, change) in plan_registries(&stored, registries) {
            sqlx::query(
                "insert into registry (name, kind, format, source, filter, sync_interval_ms, position, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 on conflict (name) do update set kind = excluded.kind, format = excluded.format, \
                 source = excluded.source, filter = excluded.filter, sync_interval_ms = excluded.sync_interval_ms, \
                 position = excluded.position, updated_at = excluded.updated_at",
            )
            .bind(&row.name)
            .bind(row.kind)
            .bind(row.format)
            .bind(Json(&row.source))
            .bind(Json(&row.filter))
            .bind(row.sync_interval_ms)
            .bind(row.position)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let (phase, message, due) = initial_sync_status(&row, now);
            match change {
                RegistryChange::New => {
                    sqlx::query(
                        "insert into sync_status (registry, phase, message, next_due_at, created_at, updated_at) \
                         values ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(&row.name)
                    .bind(phase.as_str())
                    .bind(message)
                    .bind(due)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                RegistryChange::SourceChanged => {
                    sqlx::query(
                        "update sync_status set phase = $2, message = $3, next_due_at = $4, content_hash = null, \
                         filter_hash = null, attempts = 0, last_error = null, updated_at = $5 where registry = $1",
                    )
                    .bind(&row.name)
                    .bind(phase.as_str())
                    .bind(message)
                    .bind(due)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                RegistryChange::Same => {}
            }
        }
        let names: Vec<String> = registries.iter().map(|r| r.name.to_string()).collect();
        sqlx::query("delete from registry where name <> all($1)").bind(&names).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn list_registries(&self) -> Result<Vec<Registry>, StoreError> {
        let rows = sqlx::query(
            "select name, kind, format, source, filter, sync_interval_ms, position, created_at, updated_at \
             from registry order by position",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let interval: Option<i64> = row.try_get("sync_interval_ms")?;
                Ok(Registry {
                    name: parse_registry_name(row.try_get("name")?)?,
                    kind: row.try_get("kind")?,
                    format: parse_format(row.try_get("format")?)?,
                    source: row.try_get::<Json<Value>, _>("source")?.0,
                    filter: row.try_get::<Json<Value>, _>("filter")?.0,
                    sync_interval: interval.map(|ms| Duration::from_millis(ms.unsigned_abs())),
                    position: row.try_get("position")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    pub(super) async fn sync_status(
        &self,
        registry: &RegistryName,
    ) -> Result<Option<SyncStatus>, StoreError> {
        let row = sqlx::query(
            "select registry, phase, message, last_attempt_at, last_success_at, next_due_at, attempts, last_error, \
             content_hash, filter_hash, server_count, last_duration_ms from sync_status where registry = $1",
        )
        .bind(registry.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SyncStatus {
                registry: parse_registry_name(row.try_get("registry")?)?,
                phase: SyncPhase::parse(row.try_get("phase")?)?,
                message: row.try_get("message")?,
                last_attempt_at: row.try_get("last_attempt_at")?,
                last_success_at: row.try_get("last_success_at")?,
                next_due_at: row.try_get("next_due_at")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                content_hash: row.try_get("content_hash")?,
                filter_hash: row.try_get("filter_hash")?,
                server_count: row.try_get("server_count")?,
                last_duration_ms: row.try_get("last_duration_ms")?,
            })
        })
        .transpose()
    }

    pub(super) async fn put_sync_status(&self, status: &SyncStatus) -> Result<(), StoreError> {
        let done = sqlx::query(
            "update sync_status set phase = $2, message = $3, last_attempt_at = $4, last_success_at = $5, \
             next_due_at = $6, attempts = $7, last_error = $8, content_hash = $9, filter_hash = $10, \
             server_count = $11, last_duration_ms = $12, updated_at = $13 where registry = $1",
        )
        .bind(status.registry.as_str())
        .bind(status.phase.as_str())
        .bind(&status.message)
        .bind(status.last_attempt_at)
        .bind(status.last_success_at)
        .bind(status.next_due_at)
        .bind(status.attempts)
        .bind(&status.last_error)
        .bind(&status.content_hash)
        .bind(&status.filter_hash)
        .bind(status.server_count)
        .bind(status.last_duration_ms)
        .bind(now())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownRegistry(status.registry.clone()));
        }
        Ok(())
    }

    pub(super) async fn write_snapshot(
        &self,
        registry: &RegistryName,
        entries: Vec<Entry>,
    ) -> Result<SnapshotSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let locked = sqlx::query("select 1 from registry where name = $1 for update")
            .bind(registry.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if locked.is_none() {
            return Err(StoreError::UnknownRegistry(registry.clone()));
        }
        let existing = existing_rows(&mut tx, registry, None).await?;
        let now = now();
        let plan = snapshot::plan(existing, entries, now)?;
        for chunk in plan.upserts.chunks(1000) {
            upsert(&mut tx, registry, chunk).await?;
        }
        mark(
            &mut tx,
            registry,
            &plan.tombstones,
            "status = 'deleted', status_message = null, status_changed_at = $4",
            now,
        )
        .await?;
        move_latest(&mut tx, registry, &plan.latest_off, &plan.latest_on, now).await?;
        tx.commit().await?;
        Ok(plan.summary)
    }

    pub(super) async fn list_servers(&self, query: &ListQuery) -> Result<ServerPage, StoreError> {
        let rows = sql::list::<Postgres>(query).build().fetch_all(&self.pool).await?;
        let items = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, query.limit))
    }

    pub(super) async fn list_versions(
        &self,
        scope: &Scope,
        name: &str,
        include_deleted: bool,
    ) -> Result<Vec<ServerRecord>, StoreError> {
        let rows =
            sql::versions::<Postgres>(scope, name, include_deleted).build().fetch_all(&self.pool).await?;
        rows.iter().map(record).collect()
    }

    pub(super) async fn get_version(
        &self,
        scope: &Scope,
        name: &str,
        selector: &VersionSelector,
        include_deleted: bool,
    ) -> Result<Option<ServerRecord>, StoreError> {
        let row = sql::version::<Postgres>(scope, name, selector, include_deleted)
            .build()
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    pub(super) async fn insert_version(
        &self,
        registry: &RegistryName,
        server: &ServerJson,
    ) -> Result<ServerRecord, StoreError> {
        let name = server.name().as_str();
        let version = server.version().as_str();
        let mut tx = self.locked(registry, name).await?;
        let now = now();
        let write = snapshot::RowWrite {
            server: server.clone(),
            body_hash: snapshot::body_hash(server),
            status: Status::Active,
            status_message: None,
            status_changed_at: now,
            published_at: now,
            updated_at: now,
        };
        upsert_new(&mut tx, registry, &write).await.map_err(|e| match e {
            StoreError::Database(sqlx::Error::Database(db))
                if db.constraint() == Some("server_version_pkey") =>
            {
                StoreError::VersionExists { name: name.to_owned(), version: version.to_owned() }
            }
            StoreError::Database(sqlx::Error::Database(db))
                if db.constraint() == Some("server_version_registry_fkey") =>
            {
                StoreError::UnknownRegistry(registry.clone())
            }
            other => other,
        })?;
        self.finish_write(tx, registry, name, version, now)
            .await?
            .ok_or_else(|| StoreError::Corrupt("inserted row vanished".into()))
    }

    pub(super) async fn set_status(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
        status: Status,
        message: Option<&str>,
    ) -> Result<Option<ServerRecord>, StoreError> {
        let mut tx = self.locked(registry, name).await?;
        let now = now();
        let updated = sqlx::query(
            "update server_version set status_changed_at = case when status = $4 then status_changed_at else $6 end, \
             status = $4, status_message = $5, updated_at = $6 where registry = $1 and name = $2 and version = $3",
        )
        .bind(registry.as_str())
        .bind(name)
        .bind(version)
        .bind(status.as_str())
        .bind(message)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        self.finish_write(tx, registry, name, version, now).await
    }

    pub(super) async fn delete_version(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.locked(registry, name).await?;
        let deleted =
            sqlx::query("delete from server_version where registry = $1 and name = $2 and version = $3")
                .bind(registry.as_str())
                .bind(name)
                .bind(version)
                .execute(&mut *tx)
                .await?;
        recompute_latest(&mut tx, registry, name, now()).await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// A transaction holding the advisory lock of one server of one registry: writes to the same server
    /// queue up behind it, from any replica.
    async fn locked(
        &self,
        registry: &RegistryName,
        name: &str,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("{registry}\n{name}"))
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Moves `isLatest` after a write, commits, and reads the written version back.
    async fn finish_write(
        &self,
        mut tx: Transaction<'static, Postgres>,
        registry: &RegistryName,
        name: &str,
        version: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ServerRecord>, StoreError> {
        recompute_latest(&mut tx, registry, name, now).await?;
        tx.commit().await?;
        let scope = Scope::Registry(registry.clone());
        self.get_version(&scope, name, &VersionSelector::Exact(version.to_owned()), true).await
    }
}

fn pool_options(config: &PostgresConfig, max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max.max(1))
        .min_connections(config.max_idle_conns.min(max))
        .max_lifetime(config.conn_max_lifetime)
        .acquire_timeout(Duration::from_secs(5))
}

fn record(row: &PgRow) -> Result<ServerRecord, StoreError> {
    Ok(ServerRecord {
        registry: parse_registry_name(row.try_get("registry")?)?,
        server: server_from_body(row.try_get::<Json<Value>, _>("body")?.0)?,
        official: official(
            row.try_get("status")?,
            row.try_get("status_message")?,
            row.try_get("status_changed_at")?,
            row.try_get("published_at")?,
            row.try_get("updated_at")?,
            row.try_get("is_latest")?,
        )?,
    })
}

async fn existing_rows(
    tx: &mut Transaction<'static, Postgres>,
    registry: &RegistryName,
    name: Option<&str>,
) -> Result<Vec<ExistingRow>, StoreError> {
    let rows = match name {
        None => sqlx::query(EXISTING_COLUMNS).bind(registry.as_str()).fetch_all(&mut **tx).await?,
        Some(name) => {
            sqlx::query(EXISTING_FOR_UPDATE).bind(registry.as_str()).bind(name).fetch_all(&mut **tx).await?
        }
    };
    rows.iter()
        .map(|row| {
            Ok(ExistingRow {
                name: row.try_get("name")?,
                version: row.try_get("version")?,
                body_hash: row.try_get("body_hash")?,
                status: row
                    .try_get::<&str, _>("status")?
                    .parse()
                    .map_err(|e: crate::model::envelope::UnknownStatus| StoreError::Corrupt(e.to_string()))?,
                status_message: row.try_get("status_message")?,
                status_changed_at: row.try_get("status_changed_at")?,
                published_at: row.try_get("published_at")?,
                is_latest: row.try_get("is_latest")?,
            })
        })
        .collect()
}

async fn recompute_latest(
    tx: &mut Transaction<'static, Postgres>,
    registry: &RegistryName,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let rows = existing_rows(tx, registry, Some(name)).await?;
    let (off, on) = snapshot::latest_moves(&rows);
    move_latest(tx, registry, &off, &on, now).await
}

/// Clears, then sets, `isLatest` flags (the unique index allows one per server at every moment).
async fn move_latest(
    tx: &mut Transaction<'static, Postgres>,
    registry: &RegistryName,
    off: &[Key],
    on: &[Key],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    mark(tx, registry, off, "is_latest = false", now).await?;
    mark(tx, registry, on, "is_latest = true", now).await
}

/// Applies `assignment` (plus `updated_at = $4`) to the given versions.
async fn mark(
    tx: &mut Transaction<'static, Postgres>,
    registry: &RegistryName,
    keys: &[Key],
    assignment: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let (names, versions): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(n, v)| (n.as_str(), v.as_str())).unzip();
    let statement = format!(
        "update server_version sv set {assignment}, updated_at = $4 from unnest($2::text[], $3::text[]) as k(name, version) \
         where sv.registry = $1 and sv.name = k.name and sv.version = k.version"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(registry.as_str())
        .bind(names)
        .bind(versions)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const UPSERT: &str = "insert into server_version (registry, name, version, body, body_hash, title, description, \
     status, status_message, status_changed_at, published_at, updated_at, is_latest, created_at) \
     select $1, u.name, u.version, u.body::jsonb, u.body_hash, u.title, u.description, u.status, u.status_message, \
     u.status_changed_at, u.published_at, u.updated_at, false, u.updated_at \
     from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
     $10::timestamptz[], $11::timestamptz[], $12::timestamptz[]) \
     as u(name, version, body, body_hash, title, description, status, status_message, status_changed_at, \
     published_at, updated_at)";

async fn upsert(
    tx: &mut Transaction<'static, Postgres>,
    registry: &RegistryName,
    rows: &[snapshot::RowWrite],
) -> Result<(), StoreError> {
    let statement = format!(
        "{UPSERT} on conflict (registry, name, version) do update set body = excluded.body, \
         body_hash = excluded.body_hash, title = excluded.title, description = excluded.description, \
         status = excluded.status, status_message = excluded.status_message, \
         status_changed_at = excluded.status_changed_at, published_at = excluded.published_at, \
         updated_at = excluded.updated_at"
    );
    bind_rows(sqlx::query(sqlx::AssertSqlSafe(statement)), registry, rows).execute(&mut **tx).await?;
    Ok(())
}

/// Inserts one new row; a duplicate key is an error (versions are immutable).
async fn upsert_new(
    tx: &mut Transaction<'static, Postgres>,
    registry: &RegistryName,
    row: &snapshot::RowWrite,
) -> Result<(), StoreError> {
    bind_rows(sqlx::query(UPSERT), registry, std::slice::from_ref(row)).execute(&mut **tx).await?;
    Ok(())
}

fn bind_rows<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    registry: &RegistryName,
    rows: &[snapshot::RowWrite],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let column = |f: &dyn Fn(&snapshot::RowWrite) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let times = |f: &dyn Fn(&snapshot::RowWrite) -> DateTime<Utc>| rows.iter().map(f).collect::<Vec<_>>();
    query
        .bind(registry.to_string())
        .bind(column(&|r| Some(r.name().to_owned())))
        .bind(column(&|r| Some(r.version().to_owned())))
        .bind(column(&|r| serde_json::to_string(&r.server).ok()))
        .bind(column(&|r| Some(r.body_hash.clone())))
        .bind(column(&|r| r.title().map(str::to_owned)))
        .bind(column(&|r| Some(r.description().to_owned())))
        .bind(column(&|r| Some(r.status.as_str().to_owned())))
        .bind(column(&|r| r.status_message.clone()))
        .bind(times(&|r| r.status_changed_at))
        .bind(times(&|r| r.published_at))
        .bind(times(&|r| r.updated_at))
}
