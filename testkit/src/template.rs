//! Migrated templates, so a test's database is a copy rather than a migration run: on PostgreSQL a template
//! database, on SQLite a template file, each made once per schema (keyed by the store's fingerprint of its
//! migrations) by whichever test process gets there first, and kept for later runs until the migrations
//! change.

use std::path::PathBuf;
use std::str::FromStr;

use registry_runtime::config::StorageConfig;
use registry_store::Store;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};
use url::Url;

use super::{admin_url, postgres_storage, random_suffix};

/// Serialises the making of the PostgreSQL template across test processes.
const TEMPLATE_LOCK: &str = "select pg_advisory_lock(hashtext('registry-test-template'))";

fn fingerprint() -> String {
    registry_store::schema_fingerprint()[..16].to_owned()
}

/// The migrated template database of this schema, made now if it is not there; templates of earlier schemas
/// are dropped when a new one is made.
pub(crate) async fn postgres() -> String {
    let name = format!("registry_template_{}", fingerprint());
    let mut admin = PgConnectOptions::from_str(&admin_url()).unwrap().connect().await.unwrap();
    sqlx::query(TEMPLATE_LOCK).execute(&mut admin).await.unwrap();
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    if !exists {
        let stale: Vec<String> =
            sqlx::query_scalar("select datname from pg_database where datname like 'registry_template_%'")
                .fetch_all(&mut admin)
                .await
                .unwrap();
        for old in stale {
            run(&mut admin, &format!("drop database if exists {old} with (force)")).await;
        }
        let building = format!("{name}_building");
        run(&mut admin, &format!("create database {building}")).await;
        let mut url = Url::parse(&admin_url()).unwrap();
        url.set_path(&building);
        Store::migrate(&postgres_storage(&url)).await.unwrap();
        // The migration's connections may still be closing; a template must have none.
        run(
            &mut admin,
            &format!("select pg_terminate_backend(pid) from pg_stat_activity where datname = '{building}'"),
        )
        .await;
        run(&mut admin, &format!("alter database {building} rename to {name}")).await;
    }
    admin.close().await.unwrap();
    name
}

async fn run(admin: &mut sqlx::PgConnection, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(admin).await.unwrap();
}

/// The migrated template file of this schema in the temporary folder, made now if it is not there (in a file
/// of its own, then renamed, so a concurrent maker never exposes half a file).
pub(crate) async fn sqlite() -> PathBuf {
    let path = std::env::temp_dir().join(format!("registry-template-{}.db", fingerprint()));
    if path.is_file() {
        return path;
    }
    let building = path.with_extension(format!("{}.building", random_suffix()));
    Store::migrate(&StorageConfig::Sqlite { path: building.clone() }).await.unwrap();
    // Into the main file: a rollback journal leaves nothing beside it to copy.
    let options = SqliteConnectOptions::new().filename(&building).journal_mode(SqliteJournalMode::Delete);
    options.connect().await.unwrap().close().await.unwrap();
    std::fs::rename(&building, &path).unwrap();
    path
}
