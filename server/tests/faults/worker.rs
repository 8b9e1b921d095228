//! Workers through database outages and shutdowns.

use std::time::{Duration, Instant};

use registry_store::Store;
use registry_store::jobs::{SyncRegistry, Trigger};
use registry_testkit::{PrivatePostgres, name};

use crate::support::*;

/// A worker on a private cluster with one file registry, once it has synced it.
async fn synced_worker(dir: &std::path::Path, max_outage: &str) -> (PrivatePostgres, Store, Process) {
    let pg = PrivatePostgres::start();
    let config = worker_config(dir, &pg.url, max_outage);
    admin(&["migrate"], &config);
    let store = Store::connect(&pg.storage()).await.unwrap();
    let worker = spawn_worker(&config, dir);
    until("the first sync", Duration::from_secs(30), || async {
        last_success(&store, "files").await.is_some()
    })
    .await;
    (pg, store, worker)
}

fn worker_config(dir: &std::path::Path, database: &url::Url, max_outage: &str) -> std::path::PathBuf {
    let registry = catalogue(dir, 5);
    write_config(
        dir,
        "worker.yaml",
        &format!(
            "registries:\n  - {{name: files, file: {{path: '{}'}}, syncPolicy: {{interval: 1h}}}}\n\
             auth: {{mode: anonymous}}\ndatabase: {{url: '{database}'}}\n\
             worker: {{dataDir: '{}', maxOutage: {max_outage}}}\n",
            registry.display(),
            dir.display()
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_queued_jobs_within_seconds_of_the_database_returning_from_a_15_s_outage() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, store, mut worker) = synced_worker(dir.path(), "5m").await;
    let before = last_success(&store, "files").await;

    pg.stop();
    tokio::time::sleep(Duration::from_secs(15)).await; // the outage itself
    pg.start_again();
    let returned = Instant::now();
    SyncRegistry::new(name("files"), Trigger::Manual, None).enqueue(&store, None).await.unwrap();
    until("the sync queued after the outage", Duration::from_secs(60), || async {
        last_success(&store, "files").await.is_some_and(|t| Some(t) != before)
    })
    .await;
    let recovery = returned.elapsed();

    eprintln!("worker recovery after a 15 s outage: {recovery:?}");
    assert!(
        recovery < Duration::from_secs(15),
        "queued jobs run within 15 s of the return: {recovery:?}\n{}",
        worker.logs()
    );
    assert!(worker.is_running(), "the worker survived the outage:\n{}", worker.logs());
    assert!(worker.logs().contains("the database answers again"), "{}", worker.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_reach_the_queue_for_max_outage_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, _store, mut worker) = synced_worker(dir.path(), "3s").await;

    pg.stop();
    let stopped = Instant::now();
    let exit = worker.exit_within(Duration::from_secs(30));
    let lived = stopped.elapsed();

    eprintln!("worker exit after the database went away (maxOutage 3s): {lived:?}");
    assert!(matches!(exit, Some(Some(code)) if code != 0), "exits non-zero: {exit:?}\n{}", worker.logs());
    assert!(worker.logs().contains("worker.maxOutage (3s)"), "{}", worker.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_worker_is_supervised_the_same_way_and_ends_the_server_with_it() {
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = worker_config(dir.path(), &pg.url, "3s");
    admin(&["migrate"], &config);
    let store = Store::connect(&pg.storage()).await.unwrap();
    let (mut server, _base) = spawn_api(&config, dir.path(), &["--with-worker"]);
    until("the first sync", Duration::from_secs(30), || async {
        last_success(&store, "files").await.is_some()
    })
    .await;

    pg.stop();
    let exit = server.exit_within(Duration::from_secs(40));

    assert!(matches!(exit, Some(Some(code)) if code != 0), "exits non-zero: {exit:?}\n{}", server.logs());
    assert!(server.logs().contains("worker.maxOutage (3s)"), "{}", server.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_a_worker_gives_its_running_job_back_and_another_takes_it_at_once() {
    let pg = PrivatePostgres::start();
    let hanging = HangingServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "worker.yaml",
        &format!(
            "registries:\n  - {{name: mirror, api: {{endpoint: '{}', timeout: 5m}}, syncPolicy: {{interval: 1h}}}}\n\
             auth: {{mode: anonymous}}\ndatabase: {{url: '{}'}}\nworker: {{dataDir: '{}'}}\nshutdown: {{grace: 1s}}\n",
            hanging.base,
            pg.url,
            dir.path().display()
        ),
    );
    admin(&["migrate"], &config);
    let mut first = spawn_worker(&config, dir.path());
    until("the first worker's request", Duration::from_secs(30), || async { hanging.accepted() == 1 }).await;

    first.terminate();
    let signalled = Instant::now();
    let exit = first.exit_within(Duration::from_secs(20));
    let exited = signalled.elapsed();
    let second = spawn_worker(&config, dir.path());
    let taken =
        until("the second worker's request", Duration::from_secs(20), || async { hanging.accepted() == 2 })
            .await;

    eprintln!(
        "worker exit on SIGTERM with a hung job (grace 1s): {exited:?}; job taken again after {taken:?}"
    );
    assert_eq!(exit, Some(Some(0)), "a clean exit within the grace:\n{}", first.logs());
    assert!(exited < Duration::from_secs(5), "{exited:?}");
    assert!(first.logs().contains("gave running jobs back to the queue"), "{}", first.logs());
    assert!(taken < Duration::from_secs(10), "not after the heartbeat lapses (about 50 s): {taken:?}");
    drop(second);
}
