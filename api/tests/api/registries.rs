//! The extension API: registries with their configuration and sync status.

use registry_shared::config::{ApiSource, Source};
use registry_testkit::*;
use serde_json::json;

use crate::helpers::*;

on_both_backends! {
    async fn registries_are_listed_in_config_order_with_their_sync_status(test: &TestStore) {
        let mut mirror = file_registry("mirror");
        mirror.source = Source::Api(ApiSource {
            endpoint: "https://bot:s3cret@upstream.example".parse().unwrap(),
            timeout: std::time::Duration::from_secs(10),
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
        assert_eq!(files.body["syncPolicy"], json!({"interval": "1m"}));
        assert_eq!(files.body["syncStatus"]["phase"], "idle");
        assert!(files.body["syncStatus"]["nextSyncTime"].is_string(), "never synced: due at once");
        let internal = &list.body["registries"][0];
        assert_eq!(internal["syncStatus"]["phase"], "complete");
        assert!(internal.get("syncPolicy").is_none());
        let mirror = list.body["registries"][2].to_string();
        assert!(!mirror.contains("s3cret") && mirror.contains("***"), "{mirror}");
        unknown.problem(404);
    }
}

on_both_backends! {
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
