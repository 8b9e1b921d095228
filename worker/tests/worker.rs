//! The worker as deployed: scheduler and job handlers running against a real database, until shutdown.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::path::Path;
use std::time::{Duration, Instant};

use registry_shared::config::{
    AuthConfig, AuthMode, Config, CorsConfig, FileSource, RegistryConfig, Source, StorageConfig, WorkerConfig,
};
use registry_shared::store::{Store, SyncPhase};
use registry_testkit::*;
use serde_json::json;
use tokio::sync::oneshot;

fn catalogue(dir: &Path) -> std::path::PathBuf {
    let servers: Vec<_> = (0..5)
        .map(|i| json!({"name": format!("io.example/tool-{i}"), "description": "d", "version": "1.0.0"}))
        .collect();
    let path = dir.join("registry.json");
    std::fs::write(&path, json!(servers).to_string()).unwrap();
    path
}

fn config(database: StorageConfig, registries: Vec<RegistryConfig>, data_dir: &Path) -> Config {
    Config {
        registry_name: "test".into(),
        registries,
        auth: AuthConfig { mode: AuthMode::Anonymous, public_paths: Vec::new(), oauth: None },
        database,
        redis: None,
        worker: WorkerConfig { data_dir: data_dir.to_owned(), ..WorkerConfig::default() },
        cors: CorsConfig::default(),
    }
}

fn file_registries(count: usize, path: &Path) -> Vec<RegistryConfig> {
    (0..count)
        .map(|i| RegistryConfig {
            source: Source::File(FileSource::Path(path.to_owned())),
            sync_interval: Some(Duration::from_secs(3600)),
            ..file_registry(&format!("files-{i:02}"))
        })
        .collect()
}

/// Waits until every registry named has synced once, or fails after 30 s.
async fn until_synced(store: &Store, registries: &[RegistryConfig]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut done = 0;
        for registry in registries {
            let status = store.sync_status(&registry.name).await.unwrap();
            if status.is_some_and(|s| s.phase == SyncPhase::Complete && s.last_success_at.is_some()) {
                done += 1;
            }
        }
        if done == registries.len() {
            return;
        }
        assert!(Instant::now() < deadline, "{done} of {} registries synced in 30 s", registries.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn start(config: Config) -> (oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(registry_worker::run(config, async move {
        stopped.await.ok();
    }));
    (stop, handle)
}

on_both_backends! {
    async fn a_worker_syncs_every_due_registry_and_stops_on_request(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let mut registries = file_registries(3, &catalogue(dir.path()));
        registries.push(managed_registry("internal"));
        let (stop, worker) = start(config(test.config.clone(), registries.clone(), dir.path()));

        until_synced(&test.store, &registries[..3]).await;
        stop.send(()).unwrap();
        let stopped = tokio::time::timeout(Duration::from_secs(30), worker).await;

        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
        let status = test.store.sync_status(&name("files-00")).await.unwrap().unwrap();
        assert_eq!((status.server_count, status.job_id), (5, None));
        let internal = test.store.sync_status(&name("internal")).await.unwrap().unwrap();
        assert_eq!(internal.phase, SyncPhase::Complete, "managed: never queued, never failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_postgres_run_each_scheduled_sync_exactly_once() {
    let test = TestStore::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let registries = file_registries(20, &catalogue(dir.path()));
    let (stop_a, worker_a) = start(config(test.config.clone(), registries.clone(), dir.path()));
    let (stop_b, worker_b) = start(config(test.config.clone(), registries.clone(), dir.path()));

    until_synced(&test.store, &registries).await;
    stop_a.send(()).unwrap();
    stop_b.send(()).unwrap();
    worker_a.await.unwrap().unwrap();
    worker_b.await.unwrap().unwrap();

    let Store::Postgres(pg) = &test.store else { unreachable!() };
    let jobs: Vec<(String, String)> = sqlx::query_as(
        "select convert_from(job, 'UTF8')::jsonb->>'registry', status from apalis.jobs where job_type = 'registry-sync'",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap();
    assert_eq!(jobs.len(), 20, "one job per registry: {jobs:?}");
    let mut names: Vec<&str> = jobs.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 20);
    assert!(jobs.iter().all(|(_, status)| status == "Done"), "{jobs:?}");
    test.cleanup().await;
}
