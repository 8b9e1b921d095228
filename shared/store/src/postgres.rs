//! PostgreSQL: bodies as text (the remote-URL index reads them as JSONB), trigram-indexed `ILIKE` search, bulk writes through `unnest`, and an advisory
//! lock per server for managed writes, so replicas publishing the same server queue up.

use std::sync::Arc;
use std::time::Duration;

use apalis_postgres::PostgresStorage;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Connection, Pool, Postgres, QueryBuilder, Transaction};

use crate::dialect::{Dialect, GENERATION_CHANNEL, MIGRATIONS_TABLE, Mark, Record, Value};
use crate::error::StoreError;
use crate::jobs::task::{HEARTBEAT, Job, QueuedTask};
use crate::listener::GenerationListener;
use crate::query::ListQuery;
use crate::session_lock::SessionLock;
use crate::settings::{PostgresConfig, Role};
use crate::snapshot::{Key, RowWrite};
use crate::sql_store::{Losses, SqlStore};
use crate::staged_row::StagedRow;
use registry_core::model::RegistryName;

pub type PgStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// One pool for the application role, for reads and writes alike (the worker, `registry-admin`).
    /// Connections open on first use, so a replica starts (and reports not-ready) while the database is
    /// still down.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        let options = config.connect_options(Role::App)?;
        Ok(Self::from_pool(pool_options(config, config.max_open_conns).connect_lazy_with(options)))
    }

    /// The API's store: reads go through a pool whose connections carry `statement_timeout`, so a slow
    /// query is cancelled; writes through a pool without it. Each opens up to `maxOpenConns` connections.
    /// The generation listener has a connection of its own, through `listenUrl` when set.
    pub async fn connect_serving(config: &PostgresConfig) -> Result<Self, StoreError> {
        let options = config.connect_options(Role::App)?;
        // 0 would mean no timeout at all.
        let timeout = config.statement_timeout.as_millis().max(1).to_string();
        let read_options = options.clone().options([("statement_timeout", timeout.as_str())]);
        let losses = Arc::new(Losses::default());
        Ok(Self {
            read: read_pool_options(config, losses.clone()).connect_lazy_with(read_options),
            write: pool_options(config, config.max_open_conns).connect_lazy_with(options),
            listen: Some(
                pool_options(config, 1).min_connections(0).connect_lazy_with(config.listen_options()?),
            ),
            losses,
        })
    }

    /// A pool for `role` that connects now, so a wrong address or password fails here.
    pub(crate) async fn connect_as(
        config: &PostgresConfig,
        role: Role,
        max: u32,
    ) -> Result<Self, StoreError> {
        let options = config.connect_options(role)?;
        Ok(Self::from_pool(pool_options(config, max).connect_with(options).await?))
    }

    fn from_pool(pool: PgPool) -> Self {
        Self { read: pool.clone(), write: pool, listen: None, losses: Arc::default() }
    }
}

/// A connection of the API's read pool idle for longer than this is pinged before it is handed out; one used
/// more recently is handed out as it is. Pinging every one was a round trip to the server before each
/// query, about a tenth of an uncached read's time. A read whose connection died is tried again on another
/// ([`SqlStore::read_rows`]), and from then on every connection idle since is pinged, so the second try
/// does not meet another dead one. The other pools ping every connection: their users do not retry.
const PING_AFTER_IDLE: Duration = Duration::from_millis(500);

fn pool_options(config: &PostgresConfig, max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max.max(1))
        .min_connections(config.max_idle_conns.min(max))
        .max_lifetime(config.conn_max_lifetime)
        .acquire_timeout(config.acquire_timeout)
}

/// [`pool_options`], pinging only connections idle for [`PING_AFTER_IDLE`] or since the last lost one.
fn read_pool_options(config: &PostgresConfig, losses: Arc<Losses>) -> PgPoolOptions {
    pool_options(config, config.max_open_conns).test_before_acquire(false).before_acquire(
        move |connection, meta| {
            let stale = meta.idle_for >= PING_AFTER_IDLE || losses.idle_across_one(meta.idle_for);
            Box::pin(async move {
                if stale {
                    connection.ping().await?;
                }
                Ok(true)
            })
        },
    )
}

impl Dialect for Postgres {
    const CLAIM_ROWS: &'static str = " for update of s skip locked";

    fn bind<'q, T: Value<'q>>(qb: &mut QueryBuilder<Self>, value: T) {
        qb.push_bind(value);
    }

    fn push_search(qb: &mut QueryBuilder<Self>, query: &ListQuery) {
        // Only pushed for a query with a search term.
        qb.push("sv.search_text like ").push_bind(query.like_pattern().unwrap_or_default());
    }

    // Stored generated columns (migration 20261207000002): no body is parsed for a facet.
    const PACKAGE_TYPE_LIST: &'static str = "sv.package_types::text";
    const HAS_REMOTE: &'static str = "sv.has_remote";

    /// Containment, so the GIN index on `(body::jsonb)->'remotes'` answers it.
    fn push_remote_url(qb: &mut QueryBuilder<Self>, url: &str) {
        qb.push("(body::jsonb)->'remotes' @> ").push_bind(Json(serde_json::json!([{ "url": url }])));
    }

    fn push_one_of(qb: &mut QueryBuilder<Self>, column: &str, values: Vec<String>) {
        qb.push(column).push(" = any(").push_bind(values).push(")");
    }

    fn push_key_in(qb: &mut QueryBuilder<Self>, name: &str, version: &str, keys: &[Key]) {
        let (names, versions): (Vec<String>, Vec<String>) = keys.iter().cloned().unzip();
        qb.push(format!("({name}, {version}) in (select * from unnest("))
            .push_bind(names)
            .push("::text[], ")
            .push_bind(versions)
            .push("::text[]))");
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

    /// An unnamed statement, which PostgreSQL plans with the values bound.
    async fn fetch_all_planned_for_values<R: Record>(
        conn: &mut Self::Connection,
        qb: &mut QueryBuilder<Self>,
    ) -> Result<Vec<R>, sqlx::Error> {
        qb.build_query_as().persistent(false).fetch_all(conn).await
    }

    async fn begin_write(
        pool: &Pool<Self>,
        server: Option<(&RegistryName, &str)>,
    ) -> Result<Transaction<'static, Self>, sqlx::Error> {
        let mut tx = pool.begin().await?;
        if let Some((registry, name)) = server {
            Self::lock(&mut tx, &format!("{registry}\n{name}")).await?;
        }
        Ok(tx)
    }

    async fn lock(conn: &mut Self::Connection, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(conn).await?;
        Ok(())
    }

    async fn bump_generations(
        conn: &mut Self::Connection,
        registries: Vec<String>,
    ) -> Result<(), sqlx::Error> {
        let mut upsert = QueryBuilder::new(
            "insert into content_generation (registry, generation) \
             select name, nextval('registry_generation') from registry where ",
        );
        Self::push_one_of(&mut upsert, "name", registries);
        upsert.push(" on conflict (registry) do update set generation = excluded.generation");
        upsert.build().execute(&mut *conn).await?;
        sqlx::query("select pg_notify($1, '')").bind(GENERATION_CHANNEL).execute(conn).await?;
        Ok(())
    }

    async fn write_rows(
        conn: &mut Self::Connection,
        registry: &RegistryName,
        rows: &[RowWrite],
        overwrite: bool,
    ) -> Result<(), sqlx::Error> {
        let conflict = if overwrite { UPSERT_CONFLICT } else { "" };
        let statement = format!("{INSERT_ROWS}{conflict}");
        for chunk in rows.chunks(1000) {
            bind_rows(sqlx::query(sqlx::AssertSqlSafe(statement.as_str())), registry, chunk)
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
        let text = |f: &dyn Fn(&StagedRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
        let staged: Vec<(String, String)> = sqlx::query_as(STAGE_ROWS)
            .bind(sync)
            .bind(registry.as_str())
            .bind(text(&|r| Some(&r.name)))
            .bind(text(&|r| Some(&r.version)))
            .bind(text(&|r| Some(&r.body)))
            .bind(text(&|r| Some(&r.body_hash)))
            .bind(text(&|r| r.title.as_deref()))
            .bind(text(&|r| Some(&r.description)))
            .bind(text(&|r| Some(&r.search_text)))
            .bind(text(&|r| Some(r.status.as_str())))
            .bind(text(&|r| r.status_message.as_deref()))
            .bind(rows.iter().map(|r| r.published_at).collect::<Vec<_>>())
            .bind(text(&|r| r.removal.then_some("tombstone")))
            .fetch_all(conn)
            .await?;
        if staged.len() == rows.len() {
            return Ok(None);
        }
        let staged: std::collections::HashSet<(&str, &str)> =
            staged.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        Ok(rows
            .iter()
            .find(|r| !staged.contains(&(r.name.as_str(), r.version.as_str())))
            .map(|r| (r.name.clone(), r.version.clone())))
    }

    async fn mark(
        conn: &mut Self::Connection,
        registry: &RegistryName,
        keys: &[Key],
        mark: Mark,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let (names, versions): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(n, v)| (n.as_str(), v.as_str())).unzip();
        let statement = format!(
            "update server_version sv set {} from unnest($2::text[], $3::text[]) as k(name, version) \
             where sv.registry = $1 and sv.name = k.name and sv.version = k.version",
            mark.assignments("$4")
        );
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(registry.as_str())
            .bind(names)
            .bind(versions)
            .bind(now)
            .execute(conn)
            .await?;
        Ok(())
    }
}

const INSERT_ROWS: &str = "insert into server_version (registry, name, version, body, body_hash, title, \
     description, search_text, status, status_message, status_changed_at, published_at, updated_at, is_latest, \
     created_at) \
     select $1, u.name, u.version, u.body, u.body_hash, u.title, u.description, u.search_text, u.status, \
     u.status_message, u.status_changed_at, u.published_at, u.updated_at, false, u.updated_at \
     from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
     $10::text[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[]) \
     as u(name, version, body, body_hash, title, description, search_text, status, status_message, \
     status_changed_at, published_at, updated_at)";

/// Rows already staged are left as they are, and not returned.
const STAGE_ROWS: &str = "insert into sync_staging (sync_id, registry, name, version, body, body_hash, title, \
     description, search_text, status, status_message, published_at, change) \
     select $1, $2, u.* from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
     $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::text[]) \
     as u(name, version, body, body_hash, title, description, search_text, status, status_message, published_at, \
     change) \
     on conflict (sync_id, name, version) do nothing returning name, version";

const UPSERT_CONFLICT: &str = " on conflict (registry, name, version) do update set body = excluded.body, \
     body_hash = excluded.body_hash, title = excluded.title, description = excluded.description, \
     search_text = excluded.search_text, status = excluded.status, status_message = excluded.status_message, \
     status_changed_at = excluded.status_changed_at, published_at = excluded.published_at, \
     updated_at = excluded.updated_at";

/// Binds the rows column by column, one array per column.
fn bind_rows<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    registry: &RegistryName,
    rows: &[RowWrite],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let text = |f: &dyn Fn(&RowWrite) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let times = |f: &dyn Fn(&RowWrite) -> DateTime<Utc>| rows.iter().map(f).collect::<Vec<_>>();
    query
        .bind(registry.to_string())
        .bind(text(&|r| Some(r.name().to_owned())))
        .bind(text(&|r| Some(r.version().to_owned())))
        .bind(text(&|r| serde_json::to_string(&r.server).ok()))
        .bind(text(&|r| Some(r.body_hash.clone())))
        .bind(text(&|r| r.title().map(str::to_owned)))
        .bind(text(&|r| Some(r.description().to_owned())))
        .bind(text(&|r| Some(r.search_text())))
        .bind(text(&|r| Some(r.status.as_str().to_owned())))
        .bind(text(&|r| r.status_message.clone()))
        .bind(times(&|r| r.status_changed_at))
        .bind(times(&|r| r.published_at))
        .bind(times(&|r| r.updated_at))
}

/// The job queue, the generation listener and session locks: what only PostgreSQL has, or keeps its own way.
impl SqlStore<Postgres> {
    pub(crate) const JOB_STATE: &'static str = "select status, attempts::bigint, max_attempts::bigint, last_result::text from apalis.jobs where id = $1";
    pub(crate) const RUN_NOW: &'static str =
        "update apalis.jobs set run_at = now() where id = $1 and status = 'Pending' and run_at > now()";
    pub(crate) const RELEASE_WORKER_JOBS: &'static str = "update apalis.jobs set status = 'Pending', lock_by = null, \
        lock_at = null where lock_by = $1 and status in ('Queued', 'Running')";
    pub(crate) const OLDEST_PENDING_AGE: &'static str = "select extract(epoch from now() - min(run_at))::float8 \
        from apalis.jobs where job_type = $1 and status = 'Pending' and run_at <= now()";
    pub(crate) const JOBS_BY_STATUS: &'static str =
        "select status, count(*) from apalis.jobs where job_type = $1 group by status order by status";
    pub(crate) const FAILED_JOBS: &'static str = "select id, convert_from(job, 'UTF8')::jsonb->>'registry', \
        attempts::bigint, last_result::text from apalis.jobs where job_type = $1 and status in ('Failed', 'Killed') \
        order by run_at desc limit $2";

    /// Our migrations and the job queue's.
    pub(crate) fn migrators() -> [(&'static str, Migrator); 2] {
        let mut ours = sqlx::migrate!("../../migrations/postgres");
        ours.dangerous_set_table_name(MIGRATIONS_TABLE);
        [("registry", ours), ("queue", PostgresStorage::<()>::migrations())]
    }

    /// Pushes a task into its queue, in the caller's transaction.
    pub(crate) async fn push_task(conn: &mut PgConnection, task: &QueuedTask) -> Result<(), StoreError> {
        apalis_postgres::queries::push_tasks(conn, task.queue, vec![task.to_task()])
            .await
            .map_err(|e| StoreError::Queue(Box::new(e)))
    }

    /// The queue of jobs `J` as a worker reads it.
    pub(crate) fn queue<J: Job>(&self, concurrency: usize) -> PostgresStorage<J> {
        let config = apalis_postgres::Config::default()
            .queue(J::QUEUE)
            .heartbeat_interval(HEARTBEAT)
            .batch_size(concurrency);
        PostgresStorage::<J>::new(&self.write).with_config(config)
    }

    /// A listener subscribed to new content generations, on the serving store's connection of its own.
    pub(crate) async fn generation_listener(&self) -> Result<Option<GenerationListener>, StoreError> {
        let Some(pool) = &self.listen else { return Ok(None) };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(GENERATION_CHANNEL).await?;
        Ok(Some(GenerationListener::new(listener)))
    }

    /// Takes the session lock `key` on a connection of its own, unless another session holds it.
    pub(crate) async fn try_session_lock(&self, key: &str) -> Result<Option<SessionLock>, StoreError> {
        let mut connection = self.write.acquire().await?;
        let taken: bool = sqlx::query_scalar("select pg_try_advisory_lock(hashtextextended($1, 0))")
            .bind(key)
            .fetch_one(&mut *connection)
            .await?;
        if !taken {
            return Ok(None);
        }
        let mut connection = connection.detach();
        sqlx::query(
            "select set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false), \
             set_config('tcp_keepalives_count', '3', false)",
        )
        .execute(&mut connection)
        .await?;
        Ok(Some(SessionLock::on(connection)))
    }
}
