//! Watchers, with whole workers: in this process, and as two `registry-worker` processes on one database.

use std::time::Instant;

use registry_runtime::config::Config;
use registry_store::RawPool;
use registry_store::{SyncPhase, SyncStatus};
use registry_testkit::*;
use registry_worker::kubernetes::watch::{self, Settings};
use serde_json::json;
use tokio::sync::oneshot;

use super::*;

/// Waits for `condition` on the registry's sync status, or fails naming `what` after `patience`.
async fn until(
    store: &Store,
    registry: &str,
    what: &str,
    patience: Duration,
    condition: impl Fn(&SyncStatus) -> bool,
) -> SyncStatus {
    let deadline = Instant::now() + patience;
    loop {
        let status = store.sync_status(&name(registry)).await.unwrap().unwrap();
        if condition(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: not within {patience:?}; last status {status:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn body_of(store: &Store, registry: &str, server: &str) -> Option<(Status, String)> {
    let versions = store.list_versions(&Scope::Registry(name(registry)), server, true).await.unwrap();
    versions.first().map(|v| (v.official.status, v.body.get().to_owned()))
}

async fn until_served(
    store: &Store,
    registry: &str,
    server: &str,
    what: &str,
    condition: impl Fn(&(Status, String)) -> bool,
) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    loop {
        if body_of(store, registry, server).await.is_some_and(|served| condition(&served)) {
            return started.elapsed();
        }
        assert!(Instant::now() < deadline, "{what}: not within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn watcher_number(status: &SyncStatus, field: &str) -> u64 {
    status.watcher.as_ref().and_then(|w| w[field].as_u64()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_served_within_seconds_status_churn_writes_nothing_and_a_relist_catches_missed_deletes() {
    let test = TestStore::postgres().await;
    let cluster = Cluster::start().await;
    // Bookmarks only move a watch's resource version: they must not show up as errors.
    cluster.fake.bookmark_every(Duration::from_millis(100));
    cluster.fake.apply(exported("MCPServer", "tools", "weather"));
    cluster.fake.apply(exported("MCPServer", "tools", "maps"));
    let registry = cluster.registry("cluster", &["tools"]);
    test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let worker =
        tokio::spawn(registry_worker::run(test_config(test.config.clone(), vec![registry]), async move {
            stopped.await.ok();
        }));
    let weather = "com.toolhive.k8s.tools/weather";
    until_served(&test.store, "cluster", weather, "the first discovery", |(status, _)| {
        *status == Status::Active
    })
    .await;
    until(&test.store, "cluster", "watching", Duration::from_secs(30), |s| {
        s.watcher.as_ref().is_some_and(|w| w["state"] == "watching")
            && s.phase == SyncPhase::Complete
            && s.requested_at.is_none()
    })
    .await;

    // An annotation change, served.
    let mut changed = cluster.fake.get("MCPServer", "tools", "weather").unwrap();
    changed["metadata"]["annotations"]["toolhive.stacklok.dev/registry-title"] = json!("Weather Pro");
    cluster.fake.apply(changed);
    let latency = until_served(&test.store, "cluster", weather, "the new title", |(_, body)| {
        body.contains("Weather Pro")
    })
    .await;
    eprintln!("annotation change to served entry: {latency:?}");

    // A hundred status updates: events, and not one write.
    // Settled once the watcher's (throttled) state shows the title change as its last.
    let quiet = until(&test.store, "cluster", "settled", Duration::from_secs(30), |s| {
        s.phase == SyncPhase::Complete
            && s.requested_at.is_none()
            && s.watcher.as_ref().is_some_and(|w| w["lastChange"] == "applied MCPServer tools/weather")
    })
    .await;
    let generation = test.store.registry(&name("cluster")).await.unwrap().unwrap().generation;
    let before = watcher_number(&quiet, "events");
    for replicas in 0..100 {
        cluster.fake.set_status(
            "MCPServer",
            "tools",
            "weather",
            json!({"phase": "Ready", "readyReplicas": replicas}),
        );
    }
    let churned = until(&test.store, "cluster", "100 events seen", Duration::from_secs(30), |s| {
        watcher_number(s, "events") >= before + 100
    })
    .await;
    assert_eq!(
        watcher_number(&churned, "changes"),
        watcher_number(&quiet, "changes"),
        "status churn is no change"
    );
    assert_eq!(
        (churned.last_attempt_at, churned.requested_at),
        (quiet.last_attempt_at, None),
        "no discovery ran"
    );
    assert_eq!(
        test.store.registry(&name("cluster")).await.unwrap().unwrap().generation,
        generation,
        "no content write"
    );
    let RawPool::Postgres(pg) = test.store.raw_pool() else { unreachable!() };
    let discoveries: i64 =
        sqlx::query_scalar("select count(*) from apalis.jobs where job_type = 'registry-sync'")
            .fetch_one(pg)
            .await
            .unwrap();

    // Deleted while no watch saw it, and the history compacted: the relist after 410 finds it gone.
    cluster.fake.pause_watches();
    cluster.fake.delete("MCPServer", "tools", "maps");
    cluster.fake.compact();
    let resumed = chrono::Utc::now();
    cluster.fake.resume_watches();
    until_served(
        &test.store,
        "cluster",
        "com.toolhive.k8s.tools/maps",
        "the missed delete",
        |(status, _)| *status == Status::Deleted,
    )
    .await;

    // The relist after the 410 is no failure: still watching, no error; and bookmarks were none either.
    let status =
        until(&test.store, "cluster", "the relist in the watcher state", Duration::from_secs(30), |s| {
            s.watcher.as_ref().is_some_and(|w| {
                let relist = w["lastChange"].as_str().is_some_and(|change| change.starts_with("relisted "));
                let at = w["lastChangeAt"]
                    .as_str()
                    .and_then(|at| at.parse::<chrono::DateTime<chrono::Utc>>().ok());
                relist && at.is_some_and(|at| at > resumed)
            })
        })
        .await;
    let watcher = status.watcher.unwrap();
    assert_eq!(watcher["state"], "watching", "{watcher}");
    assert!(watcher.get("lastError").is_none_or(Value::is_null), "{watcher}");
    assert!(cluster.fake.bookmarks_sent() > 10, "{} bookmarks", cluster.fake.bookmarks_sent());
    until_jobs_done(&test.store).await;
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
    let after_churn: i64 =
        sqlx::query_scalar("select count(*) from apalis.jobs where job_type = 'registry-sync'")
            .fetch_one(pg)
            .await
            .unwrap();
    assert!(after_churn > discoveries, "the relist queued a discovery");
    test.cleanup().await;
}

/// A `registry-worker run` on `config`.
fn spawn_worker(config: &Path) -> KillOnDrop {
    KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_registry-worker"))
            .args(["run", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            // The holder's name carries the host name: fixed, so the test can tell the two apart.
            .env("HOSTNAME", "local")
            .env("REGISTRY_SERVER__INTERNAL_ADDRESS", "127.0.0.1:0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The watcher name a worker process gives itself.
fn holder(worker: &KillOnDrop) -> String {
    format!("registry-worker-local-{}", worker.id())
}

fn holder_of(status: &SyncStatus) -> Option<String> {
    status
        .watcher
        .as_ref()
        .filter(|w| w["state"] == "watching")
        .and_then(|w| w["holder"].as_str().map(str::to_owned))
}

async fn watch_jobs(store: &Store) -> i64 {
    let RawPool::Postgres(pg) = store.raw_pool() else { unreachable!() };
    sqlx::query_scalar(
        "select count(*) from apalis.jobs where job_type = 'registry-sync' and convert_from(job, 'UTF8')::jsonb->>'trigger' = 'watch'",
    )
    .fetch_one(pg)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_worker_processes_one_watches_a_burst_is_one_job_and_the_other_takes_over_when_it_dies() {
    let database = PostgresDatabase::create().await;
    let storage = database.config();
    Store::migrate(&storage).await.unwrap();
    let store = Store::connect(&storage).await.unwrap();
    let cluster = Cluster::start().await;
    cluster.fake.apply(exported("MCPServer", "tools", "weather"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("worker.yaml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  - name: cluster\n    kubernetes: {{namespaces: [tools], kubeconfig: '{}'}}\n\
         auth: {{mode: anonymous}}\ndatabase: {{url: '{}'}}\nworker: {{dataDir: '{}'}}\n",
            cluster.kubeconfig.display(),
            database.url,
            dir.path().display()
        ),
    )
    .unwrap();
    store.apply_registries(&Config::load(&config).unwrap().registries).await.unwrap();

    let mut workers = [spawn_worker(&config), spawn_worker(&config)];
    let holders: Vec<String> = workers.iter().map(holder).collect();
    let watching = until(&store, "cluster", "one watcher", Duration::from_secs(30), |s| {
        holder_of(s).is_some() && s.last_success_at.is_some()
    })
    .await;
    let holder = holder_of(&watching).unwrap();
    let first = holders.iter().position(|h| *h == holder).expect("the holder is one of the two workers");
    // The other worker has tried the lock at least once by now (both try every 5 s).
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        cluster.fake.watch_requests(),
        3,
        "one watch per kind, from one worker: {:?}",
        cluster.fake.requests()
    );

    // A burst of ten changes is one discovery.
    until(&store, "cluster", "settled", Duration::from_secs(30), |s| {
        s.phase == SyncPhase::Complete && s.requested_at.is_none()
    })
    .await;
    let jobs_before = watch_jobs(&store).await;
    for i in 0..10 {
        cluster.fake.apply(exported("MCPRemoteProxy", "tools", &format!("proxy-{i}")));
    }
    until_served(&store, "cluster", "com.toolhive.k8s.tools/proxy-9", "the burst", |(status, _)| {
        *status == Status::Active
    })
    .await;
    until(&store, "cluster", "settled", Duration::from_secs(30), |s| {
        s.phase == SyncPhase::Complete && s.requested_at.is_none()
    })
    .await;
    assert_eq!(watch_jobs(&store).await - jobs_before, 1, "one job for the burst");

    // The holder dies; the other worker takes the watch and serves the next change.
    workers[first].kill();
    let other = &holders[1 - first];
    until(&store, "cluster", "the other worker watching", Duration::from_secs(60), |s| {
        holder_of(s).as_deref() == Some(other.as_str())
    })
    .await;
    cluster.fake.apply(exported("VirtualMCPServer", "tools", "toolbox"));
    until_served(
        &store,
        "cluster",
        "com.toolhive.k8s.tools/toolbox",
        "a change after the takeover",
        |(status, _)| *status == Status::Active,
    )
    .await;
    until_jobs_done(&store).await;
    drop(workers);
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_whose_crd_is_installed_later_is_watched_and_discovered() {
    let test = TestStore::postgres().await;
    let cluster = Cluster::start().await;
    cluster.fake.uninstall("VirtualMCPServer");
    let registry = cluster.registry("cluster", &["tools"]);
    test.store.apply_registries(std::slice::from_ref(&registry)).await.unwrap();
    let settings = Settings {
        lock_interval: Duration::from_millis(100),
        state_interval: Duration::from_millis(100),
        reprobe: Duration::from_millis(300),
        ..Settings::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let watches = tokio::spawn(watch::run(test.store.clone(), "tester".into(), settings, async move {
        stopped.await.ok();
    }));
    let watched = |kind: &'static str| {
        move |s: &SyncStatus| {
            s.watcher.as_ref().is_some_and(|w| {
                w["watches"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|watch| watch["kind"] == kind && watch["version"] == "v1beta1")
            })
        }
    };
    let before =
        until(&test.store, "cluster", "the watch", Duration::from_secs(30), watched("MCPServer")).await;
    assert!(!watched("VirtualMCPServer")(&before), "{:?}", before.watcher);
    assert!(before.job_id.is_some(), "the new holder queued a discovery");

    cluster.fake.install("VirtualMCPServer");
    // With no job handlers here the first job stays queued, so the next discovery shows as asked for.
    let vmcp = watched("VirtualMCPServer");
    until(&test.store, "cluster", "the new kind watched and discovered", Duration::from_secs(30), |s| {
        vmcp(s) && s.requested_at.is_some()
    })
    .await;
    assert!(
        cluster.fake.requests().iter().any(|r| r.contains("/virtualmcpservers?") && r.contains("watch=true"))
    );
    stop.send(()).unwrap();
    watches.await.unwrap();
    test.cleanup().await;
}
