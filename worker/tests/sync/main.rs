//! Syncs against real sources: files on disk, and HTTP servers on 127.0.0.1 (a fake upstream registry, and
//! another instance of our own API), on PostgreSQL and on SQLite.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod api;
mod file;
mod git;
mod mirror;
#[path = "../support/upstream.rs"]
mod upstream;

use std::path::Path;
use std::time::Duration;

use registry_core::formats::Format;
use registry_runtime::config::{ApiSource, FileSource, RegistryConfig, Source};
use registry_store::{ListQuery, Scope, Store, StoredVersion};
use registry_testkit::{file_registry, name};
use registry_worker::sources::{Context, HttpClient};

/// A context whose clones go to a temporary directory that lives as long as the test process.
pub fn context() -> Context {
    static DATA: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let data_dir = DATA.get_or_init(|| tempfile::tempdir().unwrap()).path().to_owned();
    Context {
        http: HttpClient::new().unwrap(),
        data_dir,
        job_timeout: Duration::from_secs(60),
        git_timeout: Duration::from_secs(30),
    }
}

pub fn file_at(registry: &str, path: &Path, format: Format) -> RegistryConfig {
    RegistryConfig {
        format,
        source: Source::File(FileSource::Path(path.to_owned())),
        ..file_registry(registry)
    }
}

pub fn api_at(registry: &str, endpoint: &str) -> RegistryConfig {
    let source = Source::Api(ApiSource {
        endpoint: endpoint.parse().unwrap(),
        timeout: Duration::from_secs(5),
        auth: None,
    });
    RegistryConfig { source, ..file_registry(registry) }
}

/// Every row of a registry, deleted ones included.
pub async fn rows(store: &Store, registry: &str) -> Vec<StoredVersion> {
    let mut query = ListQuery::new(Scope::Registry(name(registry)));
    query.limit = 100;
    query.include_deleted = true;
    store.list_servers(&query).await.unwrap().items
}
