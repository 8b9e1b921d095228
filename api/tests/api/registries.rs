//! The extension API: registries with their configuration and sync status.

use std::time::{Duration, Instant};

use chrono::Utc;
use registry_core::kubernetes::{Failed, Kind, Part, Report};
use registry_runtime::config::{ApiSource, BasicAuth, KubernetesSource, Source};
use registry_store::SyncPhase;
use registry_testkit::*;
use serde_json::json;

use crate::helpers::*;

on_both_backends! {
    async fn registries_are_listed_in_config_order_with_their_sync_status(test: &TestStore) {
        let mut mirror = file_registry("mirror");
        mirror.source = Source::Api(ApiSource {
            endpoint: "https://upstream.example".parse().unwrap(),
            timeout: Duration::from_secs(10),
            auth: Some(BasicAuth { username: "bot".into(), password_file: "/run/secrets/mirror".into() }),
        });
        let app = spawn_app(test, vec![managed_registry("internal"), file_registry("files"), mirror]).await;

        let list = app.get("/extension/v0/registries").await;
        let files = app.get("/extension/v0/registries/files").await;
        let unknown = app.get("/extension/v0/registries/nope").await;

        let names: Vec<&str> = list.body["registries"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["internal", "files", "mirror"]);
        assert_eq!(files.body["type"], "file");
        assert_eq!(files.body["format"], "upstream");
        assert_eq!(files.body["source"], json!({"path": "files.json"}));
        assert_eq!(files.body["syncPolicy"], json!({"interval": "1m", "maxEntries": 2_000_000}));
        assert_eq!(files.body["syncStatus"]["phase"], "idle");
        assert!(files.body["syncStatus"]["nextSyncTime"].is_string(), "never synced: due at once");
        let internal = &list.body["registries"][0];
        assert_eq!(internal["syncStatus"]["phase"], "complete");
        assert!(internal.get("syncPolicy").is_none());
        assert_eq!(
            list.body["registries"][2]["source"],
            json!({"endpoint": "https://upstream.example/", "timeout": "10s", "auth": {"username": "bot", "passwordFile": "/run/secrets/mirror"}}),
            "credentials are shown only as the file that holds them"
        );
        assert_eq!(
            list.body["registries"][2]["syncPolicy"],
            json!({"interval": "1m", "maxEntries": 2_000_000, "fullSyncInterval": "1day"})
        );
        unknown.problem(404);
    }
}

on_both_backends! {
    async fn a_kubernetes_registry_shows_its_discovery_its_watcher_and_when_it_is_stale(test: &TestStore) {
        let mut cluster = file_registry("cluster");
        cluster.source = Source::Kubernetes(KubernetesSource::new(vec!["tools".into()]));
        cluster.sync_interval = Some(Duration::from_secs(600));
        let app = spawn_app(test, vec![cluster, file_registry("files")]).await;
        let registry = name("cluster");
        let now = Utc::now();
        let minutes = |m: i64| now - chrono::Duration::minutes(m);
        let failing_for = |m: i64| Report {
            finished_at: now,
            listed: vec![],
            failed: vec![Failed { part: Part { kind: Kind::McpServer, namespace: Some("tools".into()) }, error: "403 Forbidden: no".into(), since: minutes(m) }],
            objects: 0, exported: 0, served: 2, kept: 2, skipped: vec![], warnings: vec![], clashes: vec![], written: None, purged: 0,
        };
        let watcher = json!({"holder": "registry-worker-a-1", "state": "watching"});
        let stale_after = |report: &Report, success: i64| {
            let store = test.store.clone();
            let (registry, report) = (registry.clone(), serde_json::to_value(report).unwrap());
            let app = &app;
            async move {
                store.put_discovery(&registry, &report).await.unwrap();
                let mut status = store.sync_status(&registry).await.unwrap().unwrap();
                status.phase = SyncPhase::Complete;
                status.last_success_at = Some(minutes(success));
                store.put_sync_status(&status).await.unwrap();
                app.get("/extension/v0/registries/cluster").await.body["kubernetes"].clone()
            }
        };

        let before = app.get("/extension/v0/registries/cluster").await;
        test.store.put_watcher(&registry, &watcher).await.unwrap();
        let fresh = stale_after(&failing_for(29), 1).await;
        let old_success = stale_after(&failing_for(0), 31).await;
        let failing_part = stale_after(&failing_for(31), 1).await;
        let files = app.get("/extension/v0/registries/files").await;

        assert_eq!(before.body["kubernetes"], json!({"stale": false, "staleAfter": "30m"}), "never attempted: not stale");
        assert_eq!(fresh["stale"], false);
        assert_eq!((fresh["discovery"]["kept"].clone(), fresh["watcher"].clone()), (json!(2), watcher));
        assert_eq!(old_success["stale"], true, "no success for more than three intervals");
        assert_eq!(failing_part["stale"], true, "a namespace failing for more than three intervals");
        assert!(files.body.get("kubernetes").is_none());
    }

    async fn sync_now_queues_one_job_and_refuses_managed_and_unknown_registries(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal"), file_registry("files")]).await;
        let post = |path: &str| app.client.post(format!("{}{path}", app.base));

        let first = app.send(post("/extension/v0/registries/files/sync")).await;
        let second = app.send(post("/extension/v0/registries/files/sync")).await;
        let managed = app.send(post("/extension/v0/registries/internal/sync")).await;
        let unknown = app.send(post("/extension/v0/registries/nope/sync")).await;
        let status = app.get("/extension/v0/registries/files").await;

        assert_eq!(first.status, 202);
        let job_id = first.body["jobId"].as_str().unwrap();
        assert!(first.body.get("alreadyQueued").is_none());
        assert_eq!(second.status, 202);
        assert_eq!(second.body, json!({"jobId": job_id, "alreadyQueued": true}));
        assert!(managed.problem(409)["detail"].as_str().unwrap().contains("managed"));
        unknown.problem(404);
        assert_eq!(status.body["syncStatus"]["phase"], "queued");
    }
}

/// On PostgreSQL the release step owns the registry set (on SQLite the one process applies its own).
#[tokio::test]
async fn a_replica_serves_the_stored_registries_whatever_its_own_file_lists() {
    let test = TestStore::postgres().await;
    {
        // The release step stored a and b; this replica's file still lists only a (an old config).
        test.store.apply_registries(&[file_registry("a"), file_registry("b")]).await.unwrap();
        let config = test_config(test.config.clone(), vec![file_registry("a")]);
        let app = spawn_config_as_stored(&test, config).await;

        let ready = app.get("/readiness").await;
        let listed = app.get("/extension/v0/registries").await;
        let sync = app.send(app.client.post(format!("{}/extension/v0/registries/b/sync", app.base))).await;
        let servers = app.get("/registry/b/v0.1/servers").await;

        assert_eq!(ready.status, 200, "a replica whose file differs stays ready: {}", ready.body);
        let names: Vec<&str> = listed.body["registries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(sync.status, 202, "{}", sync.body);
        assert_eq!(servers.status, 200);
        let stored = test.store.list_registries().await.unwrap();
        assert_eq!(stored.len(), 2, "no replica adds or deletes registries");
    }
    test.cleanup().await;
}

on_both_backends! {
    async fn a_registry_the_release_step_adds_is_served_within_seconds_without_a_restart(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("a")]).await;
        assert_eq!(app.get("/registry/b/v0.1/servers").await.status, 404);

        test.store.apply_registries(&[file_registry("a"), file_registry("b")]).await.unwrap();
        let started = Instant::now();
        while app.get("/registry/b/v0.1/servers").await.status != 200 {
            assert!(started.elapsed() < Duration::from_secs(15), "the new registry is not served");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
