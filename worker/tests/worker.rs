//! The worker as deployed: scheduler and job handlers running against a real database, until shutdown.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::path::Path;
use std::time::{Duration, Instant};

use registry_runtime::config::{ApiSource, Config, FileSource, RegistryConfig, Source, StorageConfig};
use registry_store::RawPool;
use registry_store::{Store, SyncPhase};
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
    let mut config = test_config(database, registries);
    config.worker.data_dir = data_dir.to_owned();
    config
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

/// Waits until every registry named has synced once, or fails after `patience`.
async fn until_synced(store: &Store, registries: &[RegistryConfig], patience: Duration) {
    let deadline = Instant::now() + patience;
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
        assert!(
            Instant::now() < deadline,
            "{done} of {} registries synced in {patience:?}",
            registries.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stores the configuration's registries, as the release step does, and starts a worker on it.
async fn start(config: Config) -> (oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let store = Store::connect(&config.database).await.unwrap();
    store.apply_registries(&config.registries).await.unwrap();
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
        let (stop, worker) = start(config(test.config.clone(), registries.clone(), dir.path())).await;

        until_synced(&test.store, &registries[..3], Duration::from_secs(30)).await;
        stop.send(()).unwrap();
        let stopped = tokio::time::timeout(Duration::from_secs(30), worker).await;

        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
        let status = test.store.sync_status(&name("files-00")).await.unwrap().unwrap();
        assert_eq!((status.server_count, status.job_id), (5, None));
        let internal = test.store.sync_status(&name("internal")).await.unwrap().unwrap();
        assert_eq!(internal.phase, SyncPhase::Complete, "managed: never queued, never failed");
        assert_eq!(test.unfinished_jobs().await, [], "every job finished");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_postgres_run_each_scheduled_sync_exactly_once() {
    let test = TestStore::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let registries = file_registries(20, &catalogue(dir.path()));
    let (stop_a, worker_a) = start(config(test.config.clone(), registries.clone(), dir.path())).await;
    let (stop_b, worker_b) = start(config(test.config.clone(), registries.clone(), dir.path())).await;

    until_synced(&test.store, &registries, Duration::from_secs(30)).await;
    stop_a.send(()).unwrap();
    stop_b.send(()).unwrap();
    worker_a.await.unwrap().unwrap();
    worker_b.await.unwrap().unwrap();

    let RawPool::Postgres(pg) = test.store.raw_pool() else { unreachable!() };
    let jobs: Vec<(String, String)> = sqlx::query_as(
        "select convert_from(job, 'UTF8')::jsonb->>'registry', status from apalis.jobs where job_type = 'registry-sync'",
    )
    .fetch_all(pg)
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

#[path = "support/upstream.rs"]
mod upstream;

use upstream::{Upstream, item};

fn api_config_file(dir: &Path, database: &url::Url, endpoint: &str) -> std::path::PathBuf {
    let path = dir.join("worker.yaml");
    let yaml = format!(
        "registries:\n  - name: mirror\n    api: {{endpoint: '{endpoint}', timeout: 60s}}\n    syncPolicy: {{interval: 1h}}\n\
         auth: {{mode: anonymous}}\ndatabase: {{url: '{database}'}}\nworker: {{dataDir: '{}', backoff: {{min: 100ms, max: 1s}}}}\n",
        dir.display()
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_a_killed_worker_is_finished_by_another() {
    let database = PostgresDatabase::create().await;
    let storage = database.config();
    Store::migrate(&storage).await.unwrap();
    let store = Store::connect(&storage).await.unwrap();
    let items: Vec<_> = (0..150).map(|i| item(&format!("io.example/s{i:03}"), "1.0.0", "active")).collect();
    let upstream = Upstream::start(items).await;
    upstream.set(|b| b.delay = Some(Duration::from_secs(120)));
    let dir = tempfile::tempdir().unwrap();
    let config = api_config_file(dir.path(), &database.url, &upstream.base);
    store.apply_registries(&Config::load(&config).unwrap().registries).await.unwrap();
    let spawn = || {
        KillOnDrop(
            std::process::Command::new(env!("CARGO_BIN_EXE_registry-worker"))
                .env("REGISTRY_SERVER__INTERNAL_ADDRESS", "127.0.0.1:0")
                .args(["run", "--config", config.to_str().unwrap()])
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };

    let mut first = spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while upstream.requests() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.kill(); // SIGKILL: no chance to release the job
    assert_eq!(upstream.requests(), 1, "the first worker started the sync and was killed during it");
    let mut second = spawn();
    until_synced(&store, &[file_registry("mirror")], Duration::from_secs(120)).await;
    let RawPool::Postgres(pg) = store.raw_pool() else { unreachable!() };
    // The sync's data commits before the queue records the job as done: wait for that too.
    let jobs = || async {
        sqlx::query_as::<_, (String,)>("select status from apalis.jobs where job_type = 'registry-sync'")
            .fetch_all(pg)
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while jobs().await.iter().any(|(status,)| status != "Done") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill();

    let status = store.sync_status(&name("mirror")).await.unwrap().unwrap();
    assert_eq!(status.server_count, 150, "nothing lost or duplicated");
    assert_eq!(jobs().await, [("Done".to_owned(),)], "one job, finished once");
    pg.close().await;
    database.drop_now().await;
}

fn api_registry(registry: &str, upstream: &Upstream) -> RegistryConfig {
    RegistryConfig {
        source: Source::Api(ApiSource {
            endpoint: upstream.base.parse().unwrap(),
            timeout: Duration::from_secs(5),
            auth: None,
        }),
        ..file_registry(registry)
    }
}

/// The sync queue's jobs: (status, attempt of the sync) in the order they were queued.
async fn sync_jobs(store: &Store) -> Vec<(String, i64)> {
    let rows: Vec<(String, String)> = match store.raw_pool() {
        RawPool::Postgres(pg) => sqlx::query_as("select status, convert_from(job, 'UTF8') from apalis.jobs where job_type = 'registry-sync' order by id")
            .fetch_all(pg).await.unwrap(),
        RawPool::Sqlite(sqlite) => sqlx::query_as("select status, cast(job as text) from Jobs where job_type = 'registry-sync' order by id")
            .fetch_all(sqlite).await.unwrap(),
    };
    rows.into_iter()
        .map(|(status, job)| {
            (status, serde_json::from_str::<serde_json::Value>(&job).unwrap()["attempt"].as_i64().unwrap())
        })
        .collect()
}

on_both_backends! {
    async fn a_transient_failure_is_retried_as_a_new_job_once_per_try_with_no_retries_inside_it(test: &TestStore) {
        let items: Vec<_> = (0..3).map(|i| item(&format!("io.example/s{i}"), "1.0.0", "active")).collect();
        let upstream = Upstream::start(items).await;
        upstream.set(|b| b.failures = vec![axum::http::StatusCode::BAD_GATEWAY; 2]);
        let dir = tempfile::tempdir().unwrap();
        let mirror = api_registry("mirror", &upstream);
        let mut config = config(test.config.clone(), vec![mirror.clone()], dir.path());
        config.worker.backoff.min = Duration::from_millis(50);
        config.worker.backoff.max = Duration::from_millis(200);
        let (stop, worker) = start(config).await;

        until_synced(&test.store, &[mirror], Duration::from_secs(60)).await;
        stop.send(()).unwrap();
        worker.await.unwrap().unwrap();

        assert_eq!(upstream.requests(), 3, "one request per try: the failures are not retried inside a try");
        let status = test.store.sync_status(&name("mirror")).await.unwrap().unwrap();
        assert_eq!((status.server_count, status.attempts, status.last_error), (3, 0, None), "failures cleared by the success");
        let jobs = sync_jobs(&test.store).await;
        assert_eq!(jobs, [("Failed".to_owned(), 1), ("Failed".to_owned(), 2), ("Done".to_owned(), 3)]);
        assert_eq!(test.unfinished_jobs().await, [], "no try left queued");
    }

    async fn a_sync_that_uses_up_its_tries_is_failed_with_the_reason_and_due_again_later(test: &TestStore) {
        let upstream = Upstream::start(vec![item("io.example/s", "1.0.0", "active")]).await;
        upstream.set(|b| b.failures = vec![axum::http::StatusCode::SERVICE_UNAVAILABLE; 100]);
        let dir = tempfile::tempdir().unwrap();
        let mirror = api_registry("mirror", &upstream);
        let mut config = config(test.config.clone(), vec![mirror], dir.path());
        config.worker.max_attempts = 3;
        config.worker.backoff.min = Duration::from_millis(20);
        config.worker.backoff.max = Duration::from_millis(50);
        let (stop, worker) = start(config).await;

        let deadline = Instant::now() + Duration::from_secs(30);
        while sync_jobs(&test.store).await.iter().filter(|(status, _)| status == "Failed").count() < 3 {
            assert!(Instant::now() < deadline, "three tries did not fail: {:?}", sync_jobs(&test.store).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.send(()).unwrap();
        worker.await.unwrap().unwrap();

        assert_eq!(upstream.requests(), 3);
        let status = test.store.sync_status(&name("mirror")).await.unwrap().unwrap();
        assert_eq!((status.phase, status.attempts, status.job_id), (SyncPhase::Failed, 3, None), "not left queued");
        assert!(status.last_error.unwrap().contains("503"));
        assert!(status.next_due_at.unwrap() > chrono::Utc::now() + chrono::Duration::seconds(30), "due again after its interval");
        assert_eq!(test.unfinished_jobs().await, [], "no fourth try is queued");
    }

    async fn a_backoff_waits_in_the_queue_and_never_holds_a_worker_slot(test: &TestStore) {
        let failing = Upstream::start(vec![item("io.example/s", "1.0.0", "active")]).await;
        failing.set(|b| b.failures = vec![axum::http::StatusCode::BAD_GATEWAY; 100]);
        let dir = tempfile::tempdir().unwrap();
        let broken = api_registry("broken", &failing);
        let healthy = file_registries(1, &catalogue(dir.path()));
        let mut registries = vec![broken];
        registries.extend(healthy.clone());
        let mut config = config(test.config.clone(), registries, dir.path());
        config.worker.concurrency = 1;
        config.worker.backoff.min = Duration::from_secs(120);
        config.worker.backoff.max = Duration::from_secs(120);
        let (stop, worker) = start(config).await;

        until_synced(&test.store, &healthy, Duration::from_secs(30)).await;
        stop.send(()).unwrap();
        worker.await.unwrap().unwrap();

        assert_eq!(failing.requests(), 1, "the retry waits two minutes in the queue");
        let broken = test.store.sync_status(&name("broken")).await.unwrap().unwrap();
        assert_eq!(broken.phase, SyncPhase::Queued, "queued as its retry");
        assert_eq!(test.unfinished_jobs().await, [("Pending".to_owned(), 1)], "the retry, and nothing else");
    }
}
