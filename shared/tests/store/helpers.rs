//! The contract harness: every case runs against a fresh PostgreSQL database and a fresh SQLite file.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use registry_shared::config::{
    FileSource, Filter, PostgresConfig, PostgresTarget, RegistryConfig, Source, StorageConfig,
};
use registry_shared::formats::{Entry, Format, Origin};
use registry_shared::model::{RegistryName, ServerJson, Status};
use registry_shared::store::Store;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use url::Url;

/// The server the tests create their databases on.
fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub enum Teardown {
    Postgres { database: String },
    Sqlite { _dir: tempfile::TempDir },
}

pub struct TestStore {
    pub store: Store,
    pub config: StorageConfig,
    teardown: Teardown,
}

impl TestStore {
    /// A new, migrated PostgreSQL database of its own.
    pub async fn postgres() -> Self {
        let database = format!("registry_test_{}", uuid_like());
        let mut admin = PgConnectOptions::from_str(&admin_url()).unwrap().connect().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {database}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = Url::parse(&admin_url()).unwrap();
        url.set_path(&database);
        let config = StorageConfig::Postgres(PostgresConfig {
            target: PostgresTarget::Url { url },
            max_open_conns: 5,
            max_idle_conns: 0,
            conn_max_lifetime: Duration::from_secs(300),
            password_file: None,
            migration_password_file: None,
        });
        Self::migrated(config, Teardown::Postgres { database }).await
    }

    /// A new, migrated SQLite file in a temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig::Sqlite { path: dir.path().join("nested/registry.db") };
        Self::migrated(config, Teardown::Sqlite { _dir: dir }).await
    }

    async fn migrated(config: StorageConfig, teardown: Teardown) -> Self {
        Store::migrate(&config).await.unwrap();
        let store = Store::connect(&config).await.unwrap();
        Self { store, config, teardown }
    }

    pub async fn cleanup(self) {
        if let Teardown::Postgres { database } = self.teardown {
            if let Store::Postgres(pg) = self.store {
                pg.pool().close().await;
            }
            let mut admin = PgConnectOptions::from_str(&admin_url()).unwrap().connect().await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {database} with (force)")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..16).map(|_| char::from(b'a' + rng.random_range(0..26u8))).collect()
}

/// Runs each case once per backend, as two tests: `<case>::postgres` and `<case>::sqlite`.
macro_rules! contract {
    ($(async fn $name:ident($store:ident: &Store) $body:block)*) => {$(
        mod $name {
            use super::*;

            async fn case($store: &Store) $body

            #[tokio::test]
            async fn postgres() {
                let test = TestStore::postgres().await;
                case(&test.store).await;
                test.cleanup().await;
            }

            #[tokio::test]
            async fn sqlite() {
                let test = TestStore::sqlite().await;
                case(&test.store).await;
                test.cleanup().await;
            }
        }
    )*};
}
pub(crate) use contract;

pub fn name(raw: &str) -> RegistryName {
    RegistryName::parse(raw).unwrap()
}

/// A file registry (the kind does not matter to storage).
pub fn file_registry(raw: &str) -> RegistryConfig {
    RegistryConfig {
        name: name(raw),
        format: Format::Upstream,
        source: Source::File(FileSource::Path(PathBuf::from(format!("{raw}.json")))),
        sync_interval: Some(Duration::from_secs(60)),
        filter: Filter::default(),
    }
}

pub fn managed_registry(raw: &str) -> RegistryConfig {
    RegistryConfig { source: Source::Managed, sync_interval: None, ..file_registry(raw) }
}

pub fn server(server_name: &str, version: &str) -> ServerJson {
    server_with(server_name, version, json!({}))
}

/// A server.json with extra fields merged in.
pub fn server_with(server_name: &str, version: &str, extra: Value) -> ServerJson {
    let mut document = json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": server_name,
        "description": format!("{server_name} at {version}"),
        "version": version,
    });
    if let (Some(target), Value::Object(extra)) = (document.as_object_mut(), extra) {
        target.extend(extra);
    }
    ServerJson::from_value(document).unwrap()
}

pub fn entry(server_name: &str, version: &str) -> Entry {
    Entry { server: server(server_name, version), origin: None }
}

pub fn entry_with_status(server_name: &str, version: &str, status: Status) -> Entry {
    Entry {
        server: server(server_name, version),
        origin: Some(Origin { status, status_message: None, published_at: None }),
    }
}
