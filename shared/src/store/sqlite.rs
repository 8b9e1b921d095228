//! The SQLite backend, for the embedded single-node setup: WAL journal, a pool of readers and one writer
//! connection, so writes are serialised in the process and `BEGIN IMMEDIATE` orders them across processes.
//! Times are stored as fixed-width RFC 3339 text, so they compare as strings.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::query::{ListQuery, Scope, VersionSelector};
use super::snapshot::{self, ExistingRow, Key, RowWrite};
use super::sql::{self, Dialect};
use super::*;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`: fixed width, so string order is time order.
fn ts(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("time {raw:?}: {e}")))
}

fn get_ts(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
    parse_ts(row.try_get(column)?)
}

fn get_opt_ts(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<&str>, _>(column)?.map(parse_ts).transpose()
}

/// Lowercased name, title and description, NUL-separated, for `instr` search.
fn search_text(row: &RowWrite) -> String {
    format!("{}\0{}\0{}", row.name(), row.title().unwrap_or_default(), row.description()).to_lowercase()
}

impl Dialect for Sqlite {
    fn push_text(qb: &mut QueryBuilder<Self>, value: String) {
        qb.push_bind(value);
    }

    fn push_int(qb: &mut QueryBuilder<Self>, value: i64) {
        qb.push_bind(value);
    }

    fn push_time(qb: &mut QueryBuilder<Self>, value: DateTime<Utc>) {
        qb.push_bind(ts(value));
    }

    fn push_search(qb: &mut QueryBuilder<Self>, query: &ListQuery) {
        let term = query.search.as_deref().unwrap_or_default().to_lowercase();
        qb.push("instr(sv.search_text, ").push_bind(term).push(") > 0");
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file. It does not migrate.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let read = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(Self { read, write })
    }

    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.write
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.write.begin_with("begin immediate").await?)
    }

    pub(super) async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        migrate::state_sqlite(self).await
    }

    pub(super) async fn sync_registries(&self, registries: &[RegistryConfig]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let stored = stored_sources(
            sqlx::query_as("select name, kind, format, source, filter from registry")
                .fetch_all(&mut *tx)
                .await?,
        );
        let now = ts(now());
        for (row, change) in plan_registries(&stored, registries) {
            sqlx::query(
                "insert into registry (name, kind, format, source, filter, sync_interval_ms, position, created_at, updated_at) \
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
                 on conflict (name) do update set kind = excluded.kind, format = excluded.format, \
                 source = excluded.source, filter = excluded.filter, sync_interval_ms = excluded.sync_interval_ms, \
                 position = excluded.position, updated_at = excluded.updated_at",
            )
            .bind(&row.name)
            .bind(row.kind)
            .bind(row.format)
            .bind(row.source.to_string())
            .bind(row.filter.to_string())
            .bind(row.sync_interval_ms)
            .bind(row.position)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            let (phase, message, due) = initial_sync_status(&row, super::now());
            let statement = match change {
                RegistryChange::New => {
                    "insert into sync_status (registry, phase, message, next_due_at, created_at, updated_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?5)"
                }
                RegistryChange::SourceChanged => {
                    "update sync_status set phase = ?2, message = ?3, next_due_at = ?4, content_hash = null, \
                     filter_hash = null, attempts = 0, last_error = null, updated_at = ?5 where registry = ?1"
                }
                RegistryChange::Same => continue,
            };
            sqlx::query(statement)
                .bind(&row.name)
                .bind(phase.as_str())
                .bind(message)
                .bind(due.map(ts))
                .bind(&now)
                .execute(&mut *tx)
                .await?;
        }
        let names: Vec<String> = registries.iter().map(|r| r.name.to_string()).collect();
        let keep = serde_json::to_string(&names).unwrap_or_default();
        sqlx::query("delete from registry where name not in (select value from json_each(?1))")
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn list_registries(&self) -> Result<Vec<Registry>, StoreError> {
        let rows = sqlx::query(
            "select name, kind, format, source, filter, sync_interval_ms, position, created_at, updated_at \
             from registry order by position",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let json = |column: &str| -> Result<Value, StoreError> {
                    serde_json::from_str(row.try_get(column)?).map_err(|e| StoreError::Corrupt(e.to_string()))
                };
                let interval: Option<i64> = row.try_get("sync_interval_ms")?;
                Ok(Registry {
                    name: parse_registry_name(row.try_get("name")?)?,
                    kind: row.try_get("kind")?,
                    format: parse_format(row.try_get("format")?)?,
                    source: json("source")?,
                    filter: json("filter")?,
                    sync_interval: interval.map(|ms| Duration::from_millis(ms.unsigned_abs())),
                    position: row.try_get("position")?,
                    created_at: get_ts(row, "created_at")?,
                    updated_at: get_ts(row, "updated_at")?,
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
             content_hash, filter_hash, server_count, last_duration_ms from sync_status where registry = ?1",
        )
        .bind(registry.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| {
            Ok(SyncStatus {
                registry: parse_registry_name(row.try_get("registry")?)?,
                phase: SyncPhase::parse(row.try_get("phase")?)?,
                message: row.try_get("message")?,
                last_attempt_at: get_opt_ts(&row, "last_attempt_at")?,
                last_success_at: get_opt_ts(&row, "last_success_at")?,
                next_due_at: get_opt_ts(&row, "next_due_at")?,
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
            "update sync_status set phase = ?2, message = ?3, last_attempt_at = ?4, last_success_at = ?5, \
             next_due_at = ?6, attempts = ?7, last_error = ?8, content_hash = ?9, filter_hash = ?10, \
             server_count = ?11, last_duration_ms = ?12, updated_at = ?13 where registry = ?1",
        )
        .bind(status.registry.as_str())
        .bind(status.phase.as_str())
        .bind(&status.message)
        .bind(status.last_attempt_at.map(ts))
        .bind(status.last_success_at.map(ts))
        .bind(status.next_due_at.map(ts))
        .bind(status.attempts)
        .bind(&status.last_error)
        .bind(&status.content_hash)
        .bind(&status.filter_hash)
        .bind(status.server_count)
        .bind(status.last_duration_ms)
        .bind(ts(now()))
        .execute(&self.write)
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
        let mut tx = self.begin().await?;
        let known = sqlx::query("select 1 from registry where name = ?1")
            .bind(registry.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(StoreError::UnknownRegistry(registry.clone()));
        }
        let existing = existing_rows(&mut tx, registry, None).await?;
        let now = now();
        let plan = snapshot::plan(existing, entries, now)?;
        for row in &plan.upserts {
            upsert(&mut tx, registry, row, true).await?;
        }
        mark(
            &mut tx,
            registry,
            &plan.tombstones,
            "status = 'deleted', status_message = null, status_changed_at = ?4",
            now,
        )
        .await?;
        move_latest(&mut tx, registry, &plan.latest_off, &plan.latest_on, now).await?;
        tx.commit().await?;
        Ok(plan.summary)
    }

    pub(super) async fn list_servers(&self, query: &ListQuery) -> Result<ServerPage, StoreError> {
        let rows = sql::list::<Sqlite>(query).build().fetch_all(&self.read).await?;
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
            sql::versions::<Sqlite>(scope, name, include_deleted).build().fetch_all(&self.read).await?;
        rows.iter().map(record).collect()
    }

    pub(super) async fn get_version(
        &self,
        scope: &Scope,
        name: &str,
        selector: &VersionSelector,
        include_deleted: bool,
    ) -> Result<Option<ServerRecord>, StoreError> {
        let row = sql::version::<Sqlite>(scope, name, selector, include_deleted)
            .build()
            .fetch_optional(&self.read)
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
        let mut tx = self.begin().await?;
        let now = now();
        let write = RowWrite {
            server: server.clone(),
            body_hash: snapshot::body_hash(server),
            status: Status::Active,
            status_message: None,
            status_changed_at: now,
            published_at: now,
            updated_at: now,
        };
        upsert(&mut tx, registry, &write, false).await.map_err(|e| match e {
            StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                StoreError::VersionExists { name: name.to_owned(), version: version.to_owned() }
            }
            StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
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
        let mut tx = self.begin().await?;
        let now = now();
        let updated = sqlx::query(
            "update server_version set status_changed_at = case when status = ?4 then status_changed_at else ?6 end, \
             status = ?4, status_message = ?5, updated_at = ?6 where registry = ?1 and name = ?2 and version = ?3",
        )
        .bind(registry.as_str())
        .bind(name)
        .bind(version)
        .bind(status.as_str())
        .bind(message)
        .bind(ts(now))
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
        let mut tx = self.begin().await?;
        let deleted =
            sqlx::query("delete from server_version where registry = ?1 and name = ?2 and version = ?3")
                .bind(registry.as_str())
                .bind(name)
                .bind(version)
                .execute(&mut *tx)
                .await?;
        recompute_latest(&mut tx, registry, name, now()).await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn finish_write(
        &self,
        mut tx: Transaction<'static, Sqlite>,
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

fn record(row: &SqliteRow) -> Result<ServerRecord, StoreError> {
    let body: Value =
        serde_json::from_str(row.try_get("body")?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(ServerRecord {
        registry: parse_registry_name(row.try_get("registry")?)?,
        server: server_from_body(body)?,
        official: official(
            row.try_get("status")?,
            row.try_get("status_message")?,
            get_ts(row, "status_changed_at")?,
            get_ts(row, "published_at")?,
            get_ts(row, "updated_at")?,
            row.try_get("is_latest")?,
        )?,
    })
}

async fn existing_rows(
    tx: &mut Transaction<'static, Sqlite>,
    registry: &RegistryName,
    name: Option<&str>,
) -> Result<Vec<ExistingRow>, StoreError> {
    let rows = sqlx::query(
        "select name, version, body_hash, status, status_message, status_changed_at, published_at, is_latest \
         from server_version where registry = ?1 and (?2 is null or name = ?2)",
    )
    .bind(registry.as_str())
    .bind(name)
    .fetch_all(&mut **tx)
    .await?;
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
                status_changed_at: get_ts(row, "status_changed_at")?,
                published_at: get_ts(row, "published_at")?,
                is_latest: row.try_get("is_latest")?,
            })
        })
        .collect()
}

async fn recompute_latest(
    tx: &mut Transaction<'static, Sqlite>,
    registry: &RegistryName,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let rows = existing_rows(tx, registry, Some(name)).await?;
    let (off, on) = snapshot::latest_moves(&rows);
    move_latest(tx, registry, &off, &on, now).await
}

async fn move_latest(
    tx: &mut Transaction<'static, Sqlite>,
    registry: &RegistryName,
    off: &[Key],
    on: &[Key],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    mark(tx, registry, off, "is_latest = 0", now).await?;
    mark(tx, registry, on, "is_latest = 1", now).await
}

async fn mark(
    tx: &mut Transaction<'static, Sqlite>,
    registry: &RegistryName,
    keys: &[Key],
    assignment: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let statement = format!(
        "update server_version set {assignment}, updated_at = ?4 where registry = ?1 and name = ?2 and version = ?3"
    );
    let now = ts(now);
    for (name, version) in keys {
        sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
            .bind(registry.as_str())
            .bind(name)
            .bind(version)
            .bind(&now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Writes one row: as an upsert for snapshots, as a plain insert (a duplicate key fails) for publishes.
async fn upsert(
    tx: &mut Transaction<'static, Sqlite>,
    registry: &RegistryName,
    row: &RowWrite,
    overwrite: bool,
) -> Result<(), StoreError> {
    let conflict = if overwrite {
        " on conflict (registry, name, version) do update set body = excluded.body, body_hash = excluded.body_hash, \
         title = excluded.title, description = excluded.description, search_text = excluded.search_text, \
         status = excluded.status, status_message = excluded.status_message, \
         status_changed_at = excluded.status_changed_at, published_at = excluded.published_at, \
         updated_at = excluded.updated_at"
    } else {
        ""
    };
    let statement = format!(
        "insert into server_version (registry, name, version, body, body_hash, title, description, search_text, \
         status, status_message, status_changed_at, published_at, updated_at, is_latest, created_at) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?13){conflict}"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(registry.as_str())
        .bind(row.name())
        .bind(row.version())
        .bind(serde_json::to_string(&row.server).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(&row.body_hash)
        .bind(row.title())
        .bind(row.description())
        .bind(search_text(row))
        .bind(row.status.as_str())
        .bind(&row.status_message)
        .bind(ts(row.status_changed_at))
        .bind(ts(row.published_at))
        .bind(ts(row.updated_at))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
