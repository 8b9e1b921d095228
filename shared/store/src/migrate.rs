//! Migrations: ours (`migrations/postgres`, `migrations/sqlite`) and the job queue's (apalis), applied with the
//! migration role. On PostgreSQL only `registry-admin migrate` runs them; replicas only check [`SchemaState`].

use std::collections::HashSet;

use sqlx::migrate::Migrator;
use sqlx::{Database, Executor, Pool};

use crate::error::StoreError;
use crate::handle::{Purpose, Store, on_backend};
use crate::settings::StorageConfig;
use crate::sql_store::SqlStore;

/// One migration that a run applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// `registry` (ours) or `queue` (the job queue's).
    pub component: &'static str,
    pub version: i64,
    pub description: String,
}

/// Which known migrations a database still lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaState {
    pub pending: Vec<AppliedMigration>,
}

impl SchemaState {
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

impl Store {
    /// Applies our pending migrations and the job queue's, with the migration role. Running it again is a
    /// no-op. Returns what it applied.
    pub async fn migrate(config: &StorageConfig) -> Result<Vec<AppliedMigration>, StoreError> {
        let store = Self::open(config, Purpose::Migration).await?;
        let applied = on_backend!(store, db => apply(&db.write, SqlStore::<DB>::migrators()).await);
        // Closed before returning, so that the caller finds no connection of ours on the database (a
        // dropped pool closes its connections later, in the background, and SQLite's journal mode can
        // change only without them).
        store.close().await;
        applied
    }

    /// Whether the schema is reachable and up to date (through the write pool, as [`Store::ping`]).
    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        on_backend!(self, db => state(&db.write, SqlStore::<DB>::migrators()).await)
    }
}

async fn apply<DB>(
    pool: &Pool<DB>,
    migrators: [(&'static str, Migrator); 2],
) -> Result<Vec<AppliedMigration>, StoreError>
where
    DB: Database,
    DB::Connection: sqlx::migrate::Migrate,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    let mut applied = Vec::new();
    for (component, migrator) in migrators {
        let pending = pending(pool, component, &migrator).await?;
        migrator.run(pool).await?;
        applied.extend(pending);
    }
    Ok(applied)
}

async fn state<DB>(
    pool: &Pool<DB>,
    migrators: [(&'static str, Migrator); 2],
) -> Result<SchemaState, StoreError>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    let mut missing = Vec::new();
    for (component, migrator) in migrators {
        missing.extend(pending(pool, component, &migrator).await?);
    }
    Ok(SchemaState { pending: missing })
}

/// The migrations of `migrator` not yet recorded as successful. A missing table means none is applied; any
/// other error (the database is unreachable) is returned.
async fn pending<DB>(
    pool: &Pool<DB>,
    component: &'static str,
    migrator: &Migrator,
) -> Result<Vec<AppliedMigration>, StoreError>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    let sql = format!("select version from {} where success", migrator.table_name);
    let done: HashSet<i64> =
        match sqlx::query_as::<DB, (i64,)>(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await {
            Ok(rows) => rows.into_iter().map(|(v,)| v).collect(),
            Err(sqlx::Error::Database(e)) if is_missing_table(e.message()) => HashSet::new(),
            Err(e) => return Err(e.into()),
        };
    Ok(migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !done.contains(&m.version))
        .map(|m| AppliedMigration { component, version: m.version, description: m.description.to_string() })
        .collect())
}

fn is_missing_table(message: &str) -> bool {
    message.contains("does not exist") || message.contains("no such table")
}

/// A digest of every migration both backends know (ours and the job queue's, by version and checksum): two
/// databases migrated by builds with the same fingerprint have the same schema. Tests key the migrated
/// template they copy by it.
#[cfg(feature = "testing")]
pub fn schema_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    let backends = [SqlStore::<sqlx::Postgres>::migrators(), SqlStore::<sqlx::Sqlite>::migrators()];
    for (component, migrator) in backends.iter().flatten() {
        for migration in migrator.iter() {
            digest.update(format!("{component} {} ", migration.version));
            digest.update(&migration.checksum);
        }
    }
    registry_core::digest::hex(&digest.finalize())
}
