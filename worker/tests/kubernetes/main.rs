//! Kubernetes discovery against a fake API server on loopback that speaks the wire protocol kube 5 speaks
//! (`registry_testkit::kube_fake`): the real `kube::Client` lists and watches it. On PostgreSQL and SQLite.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

mod discovery;
mod watching;

use std::path::{Path, PathBuf};
use std::time::Duration;

use registry_core::model::Status;
use registry_runtime::config::{KubernetesSource, RegistryConfig, Source};
use registry_store::RawPool;
use registry_store::{ListQuery, Scope, Store};
use registry_testkit::file_registry;
use registry_testkit::kube_fake::{self, FakeApiServer};
use registry_worker::sources::{Context, HttpClient};
use serde_json::Value;

pub fn context() -> Context {
    Context {
        http: HttpClient::new().unwrap(),
        data_dir: std::env::temp_dir(),
        job_timeout: Duration::from_secs(60),
        git_timeout: Duration::from_secs(30),
    }
}

/// A fake cluster and a kubeconfig for it, which live as long as the value.
pub struct Cluster {
    pub fake: FakeApiServer,
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Self {
        let fake = FakeApiServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        fake.write_kubeconfig(&kubeconfig);
        Self { fake, kubeconfig, _dir: dir }
    }

    pub fn registry(&self, name: &str, namespaces: &[&str]) -> RegistryConfig {
        registry_at(name, namespaces, &self.kubeconfig)
    }
}

pub fn registry_at(name: &str, namespaces: &[&str], kubeconfig: &Path) -> RegistryConfig {
    let mut source = KubernetesSource::new(namespaces.iter().map(|ns| (*ns).to_owned()).collect());
    source.kubeconfig = Some(kubeconfig.to_owned());
    RegistryConfig {
        source: Source::Kubernetes(source),
        sync_interval: Some(Duration::from_secs(600)),
        ..file_registry(name)
    }
}

/// An exported object of `kind`, advertised at a URL of its own.
pub fn exported(kind: &str, namespace: &str, name: &str) -> Value {
    kube_fake::exported(kind, namespace, name, &format!("https://{name}.{namespace}.example.com/mcp"))
}

/// Waits until every sync job of the queue has ended as done (the queue records it just after the job's
/// writes commit); fails when one failed or some are left after 60 s (a job a killed worker had taken goes
/// back to the queue once its heartbeat lapses).
pub async fn until_jobs_done(store: &Store) {
    let RawPool::Postgres(pg) = store.raw_pool() else { return };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let jobs: Vec<(String,)> =
            sqlx::query_as("select status from apalis.jobs where job_type = 'registry-sync'")
                .fetch_all(pg)
                .await
                .unwrap();
        assert!(
            jobs.iter().all(|(status,)| matches!(status.as_str(), "Done" | "Pending" | "Queued" | "Running")),
            "{jobs:?}"
        );
        if !jobs.is_empty() && jobs.iter().all(|(status,)| status == "Done") {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "jobs not done within 60 s: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each entry of a registry with its status, deleted ones included, in name order.
pub async fn entries(store: &Store, registry: &str) -> Vec<(String, Status)> {
    let mut query = ListQuery::new(Scope::Registry(registry_testkit::name(registry)));
    query.include_deleted = true;
    query.limit = 100;
    let mut out = Vec::new();
    loop {
        let page = store.list_servers(&query).await.unwrap();
        out.extend(page.items.iter().map(|v| (v.name.clone(), v.official.status)));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return out,
        }
    }
}

pub fn row(name: &str, status: Status) -> (String, Status) {
    (name.to_owned(), status)
}
