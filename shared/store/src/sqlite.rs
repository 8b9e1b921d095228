//! SQLite, for the embedded single-node setup: WAL journal, a pool of readers and one writer connection, so
//! writes are serialised in the process and `BEGIN IMMEDIATE` orders them across processes. Times are stored
//! as fixed-width RFC 3339 text, so they compare as strings; search runs `instr` over a lowercased column.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use apalis_sqlite::SqliteStorage;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Pool, QueryBuilder, Sqlite, Transaction};

use crate::dialect::{Dialect, MIGRATIONS_TABLE, Mark, Record, Value};
use crate::error::StoreError;
use crate::jobs::task::{HEARTBEAT, Job, QueuedTask};
use crate::listener::GenerationListener;
use crate::query::ListQuery;
use crate::session_lock::SessionLock;
use crate::snapshot::{Key, RowWrite};
use crate::sql_store::SqlStore;
use crate::staged_row::StagedRow;
use crate::timestamp::Timestamp;
use registry_core::model::RegistryName;

pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database file and its directory. It does not migrate.
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
        Ok(Self { read, write, listen: None, losses: Default::default() })
    }
}

impl Dialect for Sqlite {
    const CLAIM_ROWS: &'static str = "";

    fn bind<'q, T: Value<'q>>(qb: &mut QueryBuilder<Self>, value: T) {
        qb.push_bind(value);
    }

    fn push_search(qb: &mut QueryBuilder<Self>, query: &ListQuery) {
        // Only pushed for a query with a search term.
        qb.push("instr(sv.search_text, ").push_bind(query.search_term().unwrap_or_default()).push(") > 0");
    }

    // Read from the body: one node's catalogue is small, and SQLite cannot add a stored column of a list.
    const PACKAGE_TYPE_LIST: &'static str = "(select json_group_array(json_extract(value, '$.registryType')) from json_each(sv.body, '$.packages'))";
    const HAS_REMOTE: &'static str = "coalesce(json_array_length(sv.body, '$.remotes'), 0) > 0";

    fn push_remote_url(qb: &mut QueryBuilder<Self>, url: &str) {
        qb.push("exists (select 1 from json_each(body, '$.remotes') as remote where json_extract(remote.value, '$.url') = ")
            .push_bind(url.to_owned())
            .push(")");
    }

    fn push_one_of(qb: &mut QueryBuilder<Self>, column: &str, values: Vec<String>) {
        // A list of strings always serialises.
        let list = serde_json::to_string(&values).unwrap_or_default();
        qb.push(column).push(" in (select value from json_each(").push_bind(list).push("))");
    }

    fn push_key_in(qb: &mut QueryBuilder<Self>, name: &str, version: &str, keys: &[Key]) {
        // A list of string pairs always serialises.
        let list = serde_json::to_string(keys).unwrap_or_default();
        qb.push(format!(
            "({name}, {version}) in (select json_extract(value, '$[0]'), json_extract(value, '$[1]') \
             from json_each("
        ))
        .push_bind(list)
        .push("))");
    }

    async fn execute(conn: &mut Self::Connection, qb: &mut QueryBuilder<Self>) -> Result<u64, sqlx::Error> {
        Ok(qb.build().execute(conn).await?.rows_affected())
    }

    async fn fetch_all<R: Record>(
        conn: &mut Self::Connection,
        qb: &mut QueryBuilder<Self>,
    ) -> Result<Vec<R>, sqlx::Error> {
        qb.build_query_as().fetch_all(conn).await
    }

    /// SQLite plans a statement as it runs it, with the values bound: a kept statement does as well.
    async fn fetch_all_planned_for_values<R: Record>(
        conn: &mut Self::Connection,
        qb: &mut QueryBuilder<Self>,
    ) -> Result<Vec<R>, sqlx::Error> {
        Self::fetch_all(conn, qb).await
    }

    /// The single writer connection serialises writes in this process; `begin immediate` takes the
    /// database's write lock at once, so another process waits (busy timeout) instead of failing mid-way.
    async fn begin_write(
        pool: &Pool<Self>,
        _server: Option<(&RegistryName, &str)>,
    ) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin_with("begin immediate").await
    }

    async fn lock(_conn: &mut Self::Connection, _key: &str) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn write_rows(
        conn: &mut Self::Connection,
        registry: &RegistryName,
        rows: &[RowWrite],
        overwrite: bool,
    ) -> Result<(), sqlx::Error> {
        let conflict = if overwrite { UPSERT_CONFLICT } else { "" };
        let statement = format!("{INSERT_ROW}{conflict}");
        for row in rows {
            sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
                .bind(registry.as_str())
                .bind(row.name())
                .bind(row.version())
                // A parsed document holds only JSON values: it always serialises.
                .bind(serde_json::to_string(&row.server).unwrap_or_default())
                .bind(&row.body_hash)
                .bind(row.title())
                .bind(row.description())
                .bind(row.search_text())
                .bind(row.status.as_str())
                .bind(&row.status_message)
                .bind(Timestamp(row.status_changed_at))
                .bind(Timestamp(row.published_at))
                .bind(Timestamp(row.updated_at))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn stage_rows(
        conn: &mut Self::Connection,
        sync: &str,
        registry: &RegistryName,
        rows: &[StagedRow],
    ) -> Result<Option<Key>, sqlx::Error> {
        for row in rows {
            let staged = sqlx::query(STAGE_ROW)
                .bind(sync)
                .bind(registry.as_str())
                .bind(&row.name)
                .bind(&row.version)
                .bind(&row.body)
                .bind(&row.body_hash)
                .bind(&row.title)
                .bind(&row.description)
                .bind(&row.search_text)
                .bind(row.status.as_str())
                .bind(&row.status_message)
                .bind(row.published_at.map(Timestamp))
                .bind(row.removal.then_some("tombstone"))
                .execute(&mut *conn)
                .await?;
            if staged.rows_affected() == 0 {
                return Ok(Some((row.name.clone(), row.version.clone())));
            }
        }
        Ok(None)
    }

    async fn bump_generations(
        conn: &mut Self::Connection,
        registries: Vec<String>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("update generation_counter set value = value + 1").execute(&mut *conn).await?;
        let mut upsert = QueryBuilder::new(
            "insert into content_generation (registry, generation) \
             select name, (select value from generation_counter) from registry where ",
        );
        Self::push_one_of(&mut upsert, "name", registries);
        // SQLite needs a `where` before an upsert clause that follows a select; the one above serves.
        upsert.push(" on conflict (registry) do update set generation = excluded.generation");
        upsert.build().execute(conn).await?;
        Ok(())
    }

    async fn mark(
        conn: &mut Self::Connection,
        registry: &RegistryName,
        keys: &[Key],
        mark: Mark,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let statement = format!(
            "update server_version set {} where registry = ?1 and name = ?2 and version = ?3",
            mark.assignments("?4")
        );
        let now = Timestamp(now);
        for (name, version) in keys {
            sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
                .bind(registry.as_str())
                .bind(name)
                .bind(version)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

const INSERT_ROW: &str = "insert into server_version (registry, name, version, body, body_hash, title, \
     description, search_text, status, status_message, status_changed_at, published_at, updated_at, is_latest, \
     created_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, false, ?13)";

/// A row already staged is left as it is.
const STAGE_ROW: &str = "insert into sync_staging (sync_id, registry, name, version, body, body_hash, title, \
     description, search_text, status, status_message, published_at, change) \
     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
     on conflict (sync_id, name, version) do nothing";

const UPSERT_CONFLICT: &str = " on conflict (registry, name, version) do update set body = excluded.body, \
     body_hash = excluded.body_hash, title = excluded.title, description = excluded.description, \
     search_text = excluded.search_text, status = excluded.status, status_message = excluded.status_message, \
     status_changed_at = excluded.status_changed_at, published_at = excluded.published_at, \
     updated_at = excluded.updated_at";

/// The job queue, the generation listener and session locks, as one process on one file has them.
impl SqlStore<Sqlite> {
    pub(crate) const JOB_STATE: &'static str =
        "select status, attempts, max_attempts, last_result from Jobs where id = ?1";
    pub(crate) const RUN_NOW: &'static str = "update Jobs set run_at = strftime('%s', 'now') where id = ?1 \
        and status = 'Pending' and run_at > strftime('%s', 'now')";
    pub(crate) const RELEASE_WORKER_JOBS: &'static str = "update Jobs set status = 'Pending', lock_by = null, \
        lock_at = null where lock_by = ?1 and status in ('Queued', 'Running')";
    pub(crate) const OLDEST_PENDING_AGE: &'static str = "select cast(strftime('%s', 'now') as integer) - \
        min(run_at) * 1.0 from Jobs where job_type = ?1 and status = 'Pending' \
        and run_at <= cast(strftime('%s', 'now') as integer)";
    pub(crate) const JOBS_BY_STATUS: &'static str =
        "select status, count(*) from Jobs where job_type = ?1 group by status order by status";
    pub(crate) const FAILED_JOBS: &'static str = "select id, json_extract(cast(job as text), '$.registry'), \
        attempts, last_result from Jobs where job_type = ?1 and status in ('Failed', 'Killed') \
        order by run_at desc limit ?2";

    /// Our migrations and the job queue's.
    pub(crate) fn migrators() -> [(&'static str, Migrator); 2] {
        let mut ours = sqlx::migrate!("../../migrations/sqlite");
        ours.dangerous_set_table_name(MIGRATIONS_TABLE);
        [("registry", ours), ("queue", SqliteStorage::<()>::migrations())]
    }

    /// Pushes a task into its queue, in the caller's transaction.
    pub(crate) async fn push_task(conn: &mut SqliteConnection, task: &QueuedTask) -> Result<(), StoreError> {
        apalis_sqlite::queries::push_tasks(conn, task.queue, &[task.to_task()])
            .await
            .map_err(|e| StoreError::Queue(Box::new(e)))
    }

    /// The queue of jobs `J` as a worker reads it.
    pub(crate) fn queue<J: Job>(&self, concurrency: usize) -> SqliteStorage<J> {
        let config = apalis_sqlite::Config::default()
            .queue(J::QUEUE)
            .heartbeat_interval(HEARTBEAT)
            .batch_size(concurrency);
        SqliteStorage::<J>::new(&self.write).with_config(config)
    }

    /// None: readers of one file poll.
    pub(crate) async fn generation_listener(&self) -> Result<Option<GenerationListener>, StoreError> {
        Ok(None)
    }

    /// Always held: one process owns the file.
    pub(crate) async fn try_session_lock(&self, _key: &str) -> Result<Option<SessionLock>, StoreError> {
        Ok(Some(SessionLock::held()))
    }
}
