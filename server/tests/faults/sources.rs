//! Sources that hang: every path of a sync is bounded, and hung sources do not starve healthy ones.

use std::time::{Duration, Instant};

use registry_store::{Store, SyncPhase};
use registry_testkit::{PrivatePostgres, name};

use crate::support::*;

/// A worker on a private cluster with these registries (YAML list items) and worker settings.
async fn worker_with(
    dir: &std::path::Path,
    registries: &str,
    worker: &str,
    shutdown: &str,
) -> (PrivatePostgres, Store, Process) {
    let pg = PrivatePostgres::start();
    let config = write_config(
        dir,
        "worker.yaml",
        &format!(
            "registries:\n{registries}auth: {{mode: anonymous}}\ndatabase: {{url: '{}'}}\n\
             worker: {{dataDir: '{}', {worker}}}\nshutdown: {{{shutdown}}}\n",
            pg.url,
            dir.display()
        ),
    );
    admin(&["migrate"], &config);
    let store = Store::connect(&pg.storage()).await.unwrap();
    let process = spawn_worker(&config, dir);
    (pg, store, process)
}

/// Waits for the registry's first failed attempt; its error and how long it took.
async fn first_failure(store: &Store, registry: &str, patience: Duration) -> (String, Duration) {
    let took = until(&format!("{registry} fails"), patience, || async {
        store.sync_status(&name(registry)).await.ok().flatten().is_some_and(|s| s.last_error.is_some())
    })
    .await;
    let status = store.sync_status(&name(registry)).await.unwrap().unwrap();
    (status.last_error.unwrap(), took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_server_that_accepts_and_never_answers_fails_the_sync_at_the_git_timeout() {
    let hanging = HangingServer::start();
    let dir = tempfile::tempdir().unwrap();
    let registries = format!(
        "  - {{name: repo, git: {{repository: '{}/repo.git'}}, syncPolicy: {{interval: 1h}}}}\n",
        hanging.base
    );
    let (_pg, store, worker) =
        worker_with(dir.path(), &registries, "gitTimeout: 2s, maxAttempts: 1", "").await;

    let (error, took) = first_failure(&store, "repo", Duration::from_secs(30)).await;

    eprintln!("hung git server: sync failed after {took:?}: {error}");
    assert!(error.contains("timed out") || error.contains("timeout"), "{error}\n{}", worker.logs());
    assert!(took < Duration::from_secs(15), "{took:?}");
    let status = store.sync_status(&name("repo")).await.unwrap().unwrap();
    assert_eq!((status.phase, status.job_id), (SyncPhase::Failed, None), "not left syncing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_timeout_ends_a_hung_git_fetch_and_a_hung_http_source() {
    let hanging = HangingServer::start();
    let dir = tempfile::tempdir().unwrap();
    let registries = format!(
        "  - {{name: repo, git: {{repository: '{0}/repo.git'}}, syncPolicy: {{interval: 1h}}}}\n  \
         - {{name: feed, file: {{url: '{0}/registry.json', timeout: 5m}}, syncPolicy: {{interval: 1h}}}}\n",
        hanging.base
    );
    let settings = "gitTimeout: 5m, jobTimeout: 2s, maxAttempts: 1";
    let (_pg, store, worker) = worker_with(dir.path(), &registries, settings, "").await;

    let (git, git_took) = first_failure(&store, "repo", Duration::from_secs(30)).await;
    let (http, http_took) = first_failure(&store, "feed", Duration::from_secs(30)).await;

    eprintln!("jobTimeout 2s: git ended after {git_took:?}, http after {http_took:?}");
    for error in [git, http] {
        assert_eq!(error, "the sync did not finish within worker.jobTimeout (2s)", "{}", worker.logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_worker_stuck_in_a_git_fetch_within_its_grace() {
    let hanging = HangingServer::start();
    let dir = tempfile::tempdir().unwrap();
    let registries = format!(
        "  - {{name: repo, git: {{repository: '{}/repo.git'}}, syncPolicy: {{interval: 1h}}}}\n",
        hanging.base
    );
    let (_pg, _store, mut worker) = worker_with(dir.path(), &registries, "gitTimeout: 5m", "grace: 1s").await;
    until("the fetch", Duration::from_secs(30), || async { hanging.accepted() >= 1 }).await;

    worker.terminate();
    let signalled = Instant::now();
    let exit = worker.exit_within(Duration::from_secs(30));
    let took = signalled.elapsed();

    eprintln!("SIGTERM during a hung git fetch (grace 1s): exited after {took:?}");
    assert_eq!(exit, Some(Some(0)), "{}", worker.logs());
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_sources_that_hold_every_slot_release_them_and_a_healthy_registry_syncs() {
    let hanging = HangingServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = catalogue(dir.path(), 3);
    let mut registries = String::new();
    for i in 0..2 {
        registries.push_str(&format!(
            "  - {{name: hung-{i}, api: {{endpoint: '{}', timeout: 2s}}, syncPolicy: {{interval: 1h}}}}\n",
            hanging.base
        ));
    }
    registries.push_str(&format!(
        "  - {{name: healthy, file: {{path: '{}'}}, syncPolicy: {{interval: 1h}}}}\n",
        file.display()
    ));
    let settings = "concurrency: 2, backoff: {min: 5m, max: 5m}";
    let (_pg, store, worker) = worker_with(dir.path(), &registries, settings, "").await;

    let took = until("the healthy registry's sync", Duration::from_secs(30), || async {
        last_success(&store, "healthy").await.is_some()
    })
    .await;

    eprintln!("two hung sources on two slots: the healthy registry synced after {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}\n{}", worker.logs());
    // Both slots came free, one of them perhaps a moment before the other's failure was recorded.
    for i in 0..2 {
        let registry = name(&format!("hung-{i}"));
        until(
            &format!("hung-{i}'s retry waits in the queue, not in a slot"),
            Duration::from_secs(5),
            || async { store.sync_status(&registry).await.unwrap().unwrap().phase == SyncPhase::Queued },
        )
        .await;
    }
}
