//! What a source that reads itself in parts needs (Kubernetes discovery): a snapshot that leaves the versions
//! of unread parts as they are, tombstones purged after a retention, and syncs asked for without disturbing a
//! running one.

use registry_store::jobs::{SyncRegistry, Trigger};

use super::*;

async fn statuses(store: &Store, registry: &str) -> Vec<(String, String, Status)> {
    let mut query = ListQuery::new(Scope::Registry(name(registry)));
    query.include_deleted = true;
    let page = store.list_servers(&query).await.unwrap();
    page.items.iter().map(|r| (r.name.clone(), r.version.clone(), r.official.status)).collect()
}

fn row(n: &str, v: &str, status: Status) -> (String, String, Status) {
    (n.to_owned(), v.to_owned(), status)
}

on_both_backends! {
    async fn a_snapshot_keeping_some_names_leaves_their_versions_exactly_as_stored(test: &TestStore) {
        let store = &test.store;
        one_registry(store, "cluster", vec![
            entry("io.example/alpha", "1.0.0"), entry("io.example/beta", "1.0.0"), entry("io.example/gamma", "1.0.0"),
        ]).await;
        let before = store.list_versions(&Scope::Registry(name("cluster")), "io.example/gamma", true).await.unwrap();
        let kept = ["io.example/gamma".to_owned()].into_iter().collect();

        let summary = store.write_snapshot_keeping(&name("cluster"), vec![
            Entry { server: server_with("io.example/alpha", "1.0.0", json!({"title": "Changed"})), origin: None },
            entry("io.example/gamma", "2.0.0"),
        ], &kept).await.unwrap();

        assert_eq!((summary.inserted, summary.updated, summary.unchanged, summary.tombstoned), (0, 1, 0, 1));
        assert_eq!(statuses(store, "cluster").await, [
            row("io.example/alpha", "1.0.0", Status::Active),
            row("io.example/beta", "1.0.0", Status::Deleted),
            row("io.example/gamma", "1.0.0", Status::Active),
        ]);
        let after = store.list_versions(&Scope::Registry(name("cluster")), "io.example/gamma", true).await.unwrap();
        assert_eq!(after, before, "a kept version is not rewritten, not even its timestamps");
    }

    async fn tombstones_whose_status_changed_before_the_cutoff_are_purged(test: &TestStore) {
        let store = &test.store;
        one_registry(store, "cluster", vec![entry("io.example/alpha", "1.0.0"), entry("io.example/beta", "1.0.0")]).await;
        store.write_snapshot(&name("cluster"), vec![entry("io.example/alpha", "1.0.0")]).await.unwrap();
        let generation = store.registry(&name("cluster")).await.unwrap().unwrap().generation;

        let too_young = store.purge_tombstones(&name("cluster"), Utc::now() - chrono::Duration::hours(1)).await.unwrap();
        let untouched = store.registry(&name("cluster")).await.unwrap().unwrap().generation;
        let purged = store.purge_tombstones(&name("cluster"), Utc::now() + chrono::Duration::seconds(1)).await.unwrap();

        assert_eq!((too_young, purged), (0, 1));
        assert_eq!(untouched, generation, "purging nothing is no content change");
        assert!(store.registry(&name("cluster")).await.unwrap().unwrap().generation > generation);
        assert_eq!(statuses(store, "cluster").await, [row("io.example/alpha", "1.0.0", Status::Active)]);
    }

    async fn a_requested_sync_is_due_at_once_waits_for_a_running_one_and_is_answered_by_the_next_job(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[file_registry("cluster")]).await.unwrap();
        let now = Utc::now();
        assert_eq!(store.claim_due(now, 10).await.unwrap().len(), 1, "never synced: due at once");
        let mut status = store.sync_status(&name("cluster")).await.unwrap().unwrap();
        status.phase = SyncPhase::Syncing;
        store.put_sync_status(&status).await.unwrap();

        assert!(store.request_sync(&name("cluster")).await.unwrap());
        assert!(!store.request_sync(&name("elsewhere")).await.unwrap());
        let while_running = store.claim_due(Utc::now(), 10).await.unwrap();
        status.phase = SyncPhase::Complete;
        store.put_sync_status(&status).await.unwrap();
        let requested = store.sync_status(&name("cluster")).await.unwrap().unwrap().requested_at;
        let after = store.claim_due(Utc::now(), 10).await.unwrap();

        assert!(while_running.is_empty(), "a running sync is not disturbed");
        assert!(requested.is_some(), "the running sync's status write keeps the request");
        assert_eq!(after.len(), 1);
        assert_eq!(Some(after[0].slot), requested, "the slot is the time it was asked for");
        assert!(after[0].requested);
        let job = SyncRegistry::new(name("cluster"), Trigger::Watch, None).enqueue(store, None).await.unwrap();
        let queued = store.sync_status(&name("cluster")).await.unwrap().unwrap();
        assert_eq!(queued.requested_at, None, "the queued job answers the request");
        assert_eq!(queued.job_id.as_deref(), Some(job.job_id()));

        // Asked for while the job waits in the queue: the job answers it when it starts, since it lists after.
        store.request_sync(&name("cluster")).await.unwrap();
        let mut starting = store.sync_status(&name("cluster")).await.unwrap().unwrap();
        assert!(starting.requested_at.is_some());
        starting.phase = SyncPhase::Syncing;
        store.put_sync_status(&starting).await.unwrap();
        assert_eq!(store.sync_status(&name("cluster")).await.unwrap().unwrap().requested_at, None);
    }

    async fn discovery_and_watcher_reports_are_kept_beside_the_sync_status(test: &TestStore) {
        let store = &test.store;
        store.apply_registries(&[file_registry("cluster")]).await.unwrap();
        let report = json!({"listed": ["MCPServer tools"], "skipped": [{"object": "MCPServer tools/x", "reason": "no url"}]});
        let watcher = json!({"holder": "worker-1", "state": "watching"});

        store.put_discovery(&name("cluster"), &report).await.unwrap();
        store.put_watcher(&name("cluster"), &watcher).await.unwrap();
        let mut status = store.sync_status(&name("cluster")).await.unwrap().unwrap();
        status.message = Some("synced".into());
        store.put_sync_status(&status).await.unwrap();
        let status = store.sync_status(&name("cluster")).await.unwrap().unwrap();

        assert_eq!((status.discovery, status.watcher), (Some(report), Some(watcher)));
        let missing = store.put_watcher(&name("elsewhere"), &json!({})).await.unwrap_err();
        assert!(matches!(missing, StoreError::UnknownRegistry(_)), "{missing}");
    }
}
