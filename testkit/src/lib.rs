//! Test support for every crate: a fresh, migrated PostgreSQL database or SQLite file per test, a macro that
//! runs a case on both, and small builders for registries and server entries.
#![expect(clippy::unwrap_used, reason = "test support fails loudly on any unexpected error")]

pub mod catalogue;
pub mod kube_fake;
pub mod oidc;
mod private_postgres;
mod private_redis;
pub mod proofs;
pub mod snapshot_reference;
mod template;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use registry_core::formats::{Entry, Format, Origin};
use registry_core::model::{RegistryName, ServerJson, Status};
use registry_runtime::config::{
    AuditConfig, AuthConfig, AuthMode, Config, CorsConfig, FileSource, Filter, PostgresConfig,
    PostgresTarget, ProbePolicy, RedisConfig, RegistryConfig, ServerConfig, ShutdownConfig, Source,
    StorageConfig, SyncPolicy, ValidationConfig, WorkerConfig,
};
use registry_store::Store;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use url::Url;

pub use private_postgres::{PrivatePostgres, free_port};
pub use private_redis::PrivateRedis;
pub use registry_spec::{fixtures, reference, spec};

/// The server the tests create their databases on (`TEST_DATABASE_URL`).
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A PostgreSQL database of a test's own, dropped by [`PostgresDatabase::drop_now`], or when the value is
/// dropped (a test that panics leaves no database behind).
pub struct PostgresDatabase {
    pub name: String,
    pub url: Url,
    dropped: bool,
}

impl PostgresDatabase {
    /// An empty database.
    pub async fn create() -> Self {
        Self::created("").await
    }

    /// A copy of the migrated template (see `template`).
    pub async fn migrated() -> Self {
        let template = template::postgres().await;
        Self::created(&format!(" template {template}")).await
    }

    async fn created(options: &str) -> Self {
        let name = database_name();
        admin_statement(&format!("create database {name}{options}")).await;
        let mut url = Url::parse(&admin_url()).unwrap();
        url.set_path(&name);
        Self { name, url, dropped: false }
    }

    /// Drops the database, closing whatever connections are still open on it.
    pub async fn drop_now(mut self) {
        admin_statement(&format!("drop database if exists {} with (force)", self.name)).await;
        self.dropped = true;
    }

    pub fn config(&self) -> StorageConfig {
        postgres_storage(&self.url)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Not awaited by anyone (a test failed, or forgot): drop it on a runtime of its own.
        let statement = format!("drop database if exists {} with (force)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(admin_statement(&statement));
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// A small pool's settings for the database at `url`.
pub fn postgres_storage(url: &Url) -> StorageConfig {
    StorageConfig::Postgres(PostgresConfig {
        target: PostgresTarget::Url { url: url.clone() },
        max_open_conns: 5,
        max_idle_conns: 0,
        conn_max_lifetime: Duration::from_secs(300),
        acquire_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(30),
        listen_url: None,
        password_file: None,
        migration_password_file: None,
    })
}

async fn admin_statement(sql: &str) {
    let mut admin = PgConnectOptions::from_str(&admin_url()).unwrap().connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
}

/// A test database's name: `registry_test_{run}_{suffix}`, where the run is `REGISTRY_TEST_RUN` (set by
/// `scripts/test.sh`, which drops the run's databases when it ends, also those of a test process that was
/// killed before its `Drop` ran) and `local` without it.
fn database_name() -> String {
    let run = std::env::var("REGISTRY_TEST_RUN")
        .ok()
        .map(|run| {
            run.chars().filter(char::is_ascii_alphanumeric).take(16).collect::<String>().to_lowercase()
        })
        .filter(|run| !run.is_empty())
        .unwrap_or_else(|| "local".to_owned());
    format!("registry_test_{run}_{}", random_suffix())
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..16).map(|_| char::from(b'a' + rng.random_range(0..26u8))).collect()
}

enum Teardown {
    Postgres(PostgresDatabase),
    Sqlite { _dir: tempfile::TempDir },
}

/// A migrated store of a test's own.
pub struct TestStore {
    pub store: Store,
    pub config: StorageConfig,
    teardown: Teardown,
}

impl TestStore {
    /// A new, migrated PostgreSQL database (a copy of the migrated template).
    pub async fn postgres() -> Self {
        let database = PostgresDatabase::migrated().await;
        let config = database.config();
        let store = Store::connect(&config).await.unwrap();
        Self { store, config, teardown: Teardown::Postgres(database) }
    }

    /// A new, migrated SQLite file in a temporary directory (a copy of the migrated template file).
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/registry.db");
        std::fs::create_dir_all(dir.path().join("nested")).unwrap();
        std::fs::copy(template::sqlite().await, &path).unwrap();
        let config = StorageConfig::Sqlite { path };
        let store = Store::connect(&config).await.unwrap();
        Self { store, config, teardown: Teardown::Sqlite { _dir: dir } }
    }

    /// The queue's jobs that have not finished, per status (Pending, Queued, Running): a test that expects an
    /// empty queue at its end checks this is empty.
    pub async fn unfinished_jobs(&self) -> Vec<(String, i64)> {
        let report = self.store.queue_report().await.unwrap();
        let unfinished = |status: &str| matches!(status, "Pending" | "Queued" | "Running");
        report.by_status.into_iter().filter(|(status, n)| unfinished(status) && *n > 0).collect()
    }

    pub async fn cleanup(self) {
        if let Teardown::Postgres(database) = self.teardown {
            self.store.close().await;
            database.drop_now().await;
        }
    }
}

/// Runs each case once per backend, as two tests: `<case>::postgres` and `<case>::sqlite`. The case gets the
/// [`TestStore`]; teardown runs after it.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($test:ident: &TestStore) $body:block)*) => {$(
        mod $name {
            use super::*;

            async fn case($test: &$crate::TestStore) $body

            #[tokio::test]
            async fn postgres() {
                let test = $crate::TestStore::postgres().await;
                case(&test).await;
                test.cleanup().await;
            }

            #[tokio::test]
            async fn sqlite() {
                let test = $crate::TestStore::sqlite().await;
                case(&test).await;
                test.cleanup().await;
            }
        }
    )*};
}

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
        sync_policy: SyncPolicy::default(),
        probe: ProbePolicy::default(),
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
        origin: Some(Origin { status, status_message: None, published_at: None, updated_at: None }),
    }
}

/// The page cache's Redis settings for the server at `url`, under a key prefix no other test uses.
pub fn redis_at(url: &Url) -> RedisConfig {
    RedisConfig {
        url: url.clone(),
        key_prefix: format!("test-{}-{}:", std::process::id(), random_suffix()),
        ttl: Duration::from_secs(60),
        timeout: Duration::from_millis(50),
    }
}

/// The shared Redis of the tests (`TEST_REDIS_URL`, default 127.0.0.1:6379).
pub fn shared_redis() -> RedisConfig {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    redis_at(&Url::parse(&url).unwrap())
}

/// A configuration for tests: anonymous auth, defaults elsewhere.
pub fn test_config(database: StorageConfig, registries: Vec<RegistryConfig>) -> Config {
    Config {
        registry_name: "test".into(),
        registries,
        auth: AuthConfig {
            mode: AuthMode::Anonymous,
            public_paths: Vec::new(),
            public_reads: false,
            oauth: None,
            authz: None,
            publisher_tokens: None,
        },
        database,
        redis: None,
        worker: WorkerConfig::default(),
        // Tests run many processes and servers at once: each internal listener takes a free port.
        server: ServerConfig { internal_address: ([127, 0, 0, 1], 0).into(), ..ServerConfig::default() },
        shutdown: ShutdownConfig { drain: Duration::ZERO, ..ShutdownConfig::default() },
        cors: CorsConfig::default(),
        mcp: registry_runtime::config::McpConfig::default(),
        ui: registry_runtime::config::UiConfig::default(),
        // Tests send many requests from one address; the rate limits' own tests turn them on.
        rate_limits: registry_runtime::config::RateLimitsConfig {
            enabled: false,
            ..registry_runtime::config::RateLimitsConfig::default()
        },
        audit: AuditConfig::default(),
        cache: registry_runtime::config::CacheConfig::default(),
        metrics: registry_runtime::config::MetricsConfig::default(),
        tracing: registry_runtime::config::TracingConfig::default(),
        publish_registry: None,
        validation: ValidationConfig::default(),
    }
}

/// Reads under load: clients that each send GETs to a base URL, alternating `/v0.1/servers` (one page, which
/// the cache keeps) with pages of other sizes (keys not seen yet), and count the answers as they come.
pub struct ReadLoad {
    answered: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    workers: Vec<tokio::task::JoinHandle<Vec<u16>>>,
}

impl ReadLoad {
    pub fn start(client: &reqwest::Client, base: &str, workers: usize, each: usize) -> Self {
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers = (0..workers)
            .map(|worker| {
                let (client, base, answered) = (client.clone(), base.to_owned(), answered.clone());
                tokio::spawn(async move {
                    let mut statuses = Vec::with_capacity(each);
                    for i in 0..each {
                        let path = if i % 2 == 0 {
                            "/v0.1/servers".to_owned()
                        } else {
                            format!("/v0.1/servers?limit={}", 1 + (worker * each + i) % 99)
                        };
                        let sent = client.get(format!("{base}{path}")).send().await;
                        statuses.push(sent.map_or(0, |r| r.status().as_u16()));
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    statuses
                })
            })
            .collect();
        Self { answered, workers }
    }

    /// Returns once `count` requests have been answered.
    pub async fn until_answered(&self, count: usize) {
        while self.answered.load(std::sync::atomic::Ordering::SeqCst) < count {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Every request's status, 0 for one that got no answer.
    pub async fn statuses(self) -> Vec<u16> {
        let mut statuses = Vec::new();
        for worker in self.workers {
            statuses.extend(worker.await.unwrap());
        }
        statuses
    }
}

/// A child process, killed (SIGKILL) when dropped, so a failing test leaves no process behind.
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}
