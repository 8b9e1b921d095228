//! The lifecycle of published versions: status changes for one or all versions, deletion and edits, per
//! registry and at the root aliases.

use registry_testkit::*;
use serde_json::{Value, json};

use crate::helpers::*;

const TOOL: &str = "/registry/internal/v0.1/servers/io.example%2Ftool";

fn official(reply: &Reply) -> &Value {
    &reply.body["_meta"]["io.modelcontextprotocol.registry/official"]
}

async fn app_with_versions(test: &TestStore, versions: &[&str]) -> TestApp {
    let app = spawn_app(test, vec![managed_registry("internal"), file_registry("files")]).await;
    for version in versions {
        let reply =
            app.post_json("/registry/internal/v0.1/publish", &server_json("io.example/tool", version)).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    app
}

async fn latest_version(app: &TestApp) -> Value {
    app.get(&format!("{TOOL}/versions/latest?include_deleted=true")).await.body["server"]["version"].clone()
}

on_both_backends! {
    async fn a_version_moves_through_the_status_lifecycle_and_latest_follows(test: &TestStore) {
        let app = app_with_versions(test, &["1.0.0", "2.0.0"]).await;
        let status = |status: &str, message: Option<&str>| json!({ "status": status, "statusMessage": message });
        let before = app.get(&format!("{TOOL}/versions/2.0.0")).await;

        let deprecated = app.patch_json(&format!("{TOOL}/versions/2.0.0/status"), &status("deprecated", Some("use 3.x"))).await;
        let reworded = app.patch_json(&format!("{TOOL}/versions/2.0.0/status"), &status("deprecated", Some("use 3.0"))).await;
        let deleted = app.patch_json(&format!("{TOOL}/versions/2.0.0/status"), &status("deleted", None)).await;
        let latest_after_delete = latest_version(&app).await;
        let hidden = app.get(&format!("{TOOL}/versions/2.0.0")).await;
        let restored = app.patch_json(&format!("{TOOL}/versions/2.0.0/status"), &json!({ "status": "active" })).await;

        assert_api_shape(&deprecated.body, "ServerResponse");
        assert_eq!(official(&deprecated)["statusMessage"], "use 3.x");
        assert_ne!(official(&deprecated)["statusChangedAt"], official(&before)["statusChangedAt"]);
        assert_eq!(official(&reworded)["statusChangedAt"], official(&deprecated)["statusChangedAt"], "only a status change moves statusChangedAt");
        assert_ne!(official(&reworded)["updatedAt"], official(&deprecated)["updatedAt"], "updatedAt always moves");
        assert_eq!(official(&deprecated)["isLatest"], true, "deprecated versions stay latest");
        assert_eq!((official(&deleted)["status"].as_str(), official(&deleted)["isLatest"].as_bool()), (Some("deleted"), Some(false)));
        assert_eq!(latest_after_delete, "1.0.0");
        hidden.problem(404);
        assert_eq!((official(&restored)["status"].as_str(), official(&restored)["isLatest"].as_bool()), (Some("active"), Some(true)));
        assert!(official(&restored).get("statusMessage").is_none());
    }

    async fn status_changes_break_the_official_rules_with_the_official_codes(test: &TestStore) {
        let app = app_with_versions(test, &["1.0.0"]).await;
        let version = format!("{TOOL}/versions/1.0.0/status");

        let no_op = app.patch_json(&version, &json!({ "status": "active" })).await;
        let message_on_active = app.patch_json(&version, &json!({ "status": "active", "statusMessage": "hi" })).await;
        let long = app.patch_json(&version, &json!({ "status": "deprecated", "statusMessage": "m".repeat(501) })).await;
        let unknown_status = app.patch_json(&version, &json!({ "status": "retired", "reason": "x" })).await;
        let missing = app.patch_json(&format!("{TOOL}/versions/9.9.9/status"), &json!({ "status": "deleted" })).await;
        let not_managed = app.patch_json("/registry/files/v0.1/servers/io.example%2Ftool/status", &json!({ "status": "deleted" })).await;

        assert!(no_op.problem(400)["detail"].as_str().unwrap().starts_with("No changes to apply"));
        assert!(message_on_active.problem(400)["detail"].as_str().unwrap().contains("active"));
        assert_eq!(long.problem(422)["errors"][0]["location"], "body.statusMessage");
        let locations: Vec<&str> = unknown_status.problem(422)["errors"].as_array().unwrap().iter().map(|e| e["location"].as_str().unwrap()).collect();
        assert_eq!(locations, ["body.reason", "body.status"]);
        missing.problem(404);
        not_managed.problem(403);
    }

    async fn all_versions_change_in_one_request_and_updated_since_sees_it(test: &TestStore) {
        let app = app_with_versions(test, &["1.0.0", "2.0.0", "3.0.0"]).await;
        app.patch_json(&format!("{TOOL}/versions/3.0.0/status"), &json!({ "status": "deprecated", "statusMessage": "moved" })).await;
        let before = app.get(&format!("{TOOL}/versions/3.0.0")).await;
        let since = official(&before)["updatedAt"].as_str().unwrap().to_owned();
        let body = json!({ "status": "deprecated", "statusMessage": "moved" });

        let all = app.patch_json(&format!("{TOOL}/status"), &body).await;
        let again = app.patch_json(&format!("{TOOL}/status"), &body).await;
        let unknown = app.patch_json("/registry/internal/v0.1/servers/io.example%2Fnone/status", &body).await;
        let changed = app.get(&format!("/v0.1/servers?updated_since={}", since.replace('+', "%2B"))).await;

        assert_eq!(all.status, 200, "{}", all.body);
        assert_eq!(all.body["updatedCount"], 2);
        let servers = all.body["servers"].as_array().unwrap();
        assert_eq!(servers.len(), 3);
        assert!(servers.iter().all(|s| s["_meta"]["io.modelcontextprotocol.registry/official"]["status"] == "deprecated"));
        for server in servers {
            assert_api_shape(server, "ServerResponse");
        }
        assert!(again.problem(400)["detail"].as_str().unwrap().contains("all versions already have"));
        unknown.problem(404);
        let mut seen = changed.versions();
        seen.sort();
        assert_eq!(seen, [("io.example/tool".to_owned(), "1.0.0".to_owned()), ("io.example/tool".to_owned(), "2.0.0".to_owned())]);
    }

    async fn a_deleted_version_is_gone_and_can_be_published_again(test: &TestStore) {
        let app = app_with_versions(test, &["1.0.0", "2.0.0"]).await;

        let deleted = app.delete(&format!("{TOOL}/versions/2.0.0")).await;
        let gone = app.get(&format!("{TOOL}/versions/2.0.0?include_deleted=true")).await;
        let latest = latest_version(&app).await;
        let again = app.delete(&format!("{TOOL}/versions/2.0.0")).await;
        let not_managed = app.delete("/registry/files/v0.1/servers/io.example%2Ftool/versions/1.0.0").await;
        let republished = app.post_json("/registry/internal/v0.1/publish", &server_json("io.example/tool", "2.0.0")).await;

        assert_eq!(deleted.status, 200);
        assert_api_shape(&deleted.body, "ServerResponse");
        assert_eq!((deleted.body["server"]["version"].as_str(), official(&deleted)["isLatest"].as_bool()), (Some("2.0.0"), Some(true)), "the version as it was");
        gone.problem(404);
        assert_eq!(latest, "1.0.0");
        again.problem(404);
        assert!(not_managed.problem(403)["detail"].as_str().unwrap().contains("file"));
        assert_eq!(republished.status, 201);
    }

    async fn restoring_a_version_whose_remote_url_was_taken_is_a_conflict(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal")]).await;
        let remotes = json!({ "remotes": [{ "type": "streamable-http", "url": "https://mcp.example.com/mcp" }] });
        app.post_json("/registry/internal/v0.1/publish", &server_json_with("io.example/tool", "1.0.0", remotes.clone())).await;
        app.patch_json(&format!("{TOOL}/status"), &json!({ "status": "deleted" })).await;
        let successor = app.post_json("/registry/internal/v0.1/publish", &server_json_with("io.example/successor", "1.0.0", remotes)).await;

        let restore = app.patch_json(&format!("{TOOL}/versions/1.0.0/status"), &json!({ "status": "active" })).await;

        assert_eq!(successor.status, 201, "a deleted server frees its remote URL");
        assert!(restore.problem(409)["detail"].as_str().unwrap().contains("io.example/successor"));
    }

    async fn an_edit_replaces_the_document_and_keeps_the_rest(test: &TestStore) {
        let app = app_with_versions(test, &["1.0.0", "2.0.0"]).await;
        let before = app.get(&format!("{TOOL}/versions/1.0.0")).await;
        let edit = |version: &str, body: &Value| app.send(app.client.put(format!("{}{TOOL}/versions/{version}", app.base)).json(body));
        let edited = server_json_with("io.example/tool", "1.0.0", json!({ "description": "edited", "title": "Tool" }));

        let replaced = edit("1.0.0", &edited).await;
        let read = app.get(&format!("{TOOL}/versions/1.0.0")).await;
        let renamed = edit("1.0.0", &server_json("io.example/other", "1.0.0")).await;
        let other_version = edit("1.0.0", &server_json("io.example/tool", "1.0.1")).await;
        let invalid = edit("1.0.0", &server_json_with("io.example/tool", "1.0.0", json!({ "websiteUrl": "http://insecure.example" }))).await;
        let missing = edit("9.9.9", &server_json("io.example/tool", "9.9.9")).await;
        app.patch_json(&format!("{TOOL}/versions/2.0.0/status"), &json!({ "status": "deleted" })).await;
        let deleted = edit("2.0.0", &server_json("io.example/tool", "2.0.0")).await;
        let not_json = app.send(app.client.put(format!("{}{TOOL}/versions/1.0.0", app.base)).header("content-type", "application/json").body("{")).await;

        assert_eq!(replaced.status, 200, "{}", replaced.body);
        assert_api_shape(&replaced.body, "ServerResponse");
        assert_eq!((replaced.body["server"]["description"].as_str(), read.body["server"]["title"].as_str()), (Some("edited"), Some("Tool")));
        assert_eq!(official(&replaced)["publishedAt"], official(&before)["publishedAt"]);
        assert_ne!(official(&replaced)["updatedAt"], official(&before)["updatedAt"], "updatedAt moves");
        assert_eq!((official(&replaced)["isLatest"].as_bool(), official(&replaced)["status"].as_str()), (Some(false), Some("active")), "2.0.0 stays latest");
        assert!(renamed.problem(400)["detail"].as_str().unwrap().contains("Cannot rename"));
        assert!(other_version.problem(400)["detail"].as_str().unwrap().contains("version"));
        assert_eq!(invalid.problem(422)["errors"][0]["location"], "body.websiteUrl");
        missing.problem(404);
        deleted.problem(404);
        not_json.problem(400);
        assert_eq!(app.get(&format!("{TOOL}/versions/1.0.0")).await.body["server"]["description"], "edited", "refused edits change nothing");
    }

    async fn every_write_works_at_the_root_aliases_on_the_publish_registry(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal"), file_registry("files")]).await;
        let tool = "servers/io.example%2Ftool";

        let published = app.post_json("/v0/publish", &server_json("io.example/tool", "1.0.0")).await;
        app.post_json("/v0.1/publish", &server_json("io.example/tool", "2.0.0")).await;
        let one = app.patch_json(&format!("/v0.1/{tool}/versions/1.0.0/status"), &json!({ "status": "deprecated" })).await;
        let all = app.patch_json(&format!("/v0/{tool}/status"), &json!({ "status": "deprecated", "statusMessage": "moved" })).await;
        let edited = app.send(app.client.put(format!("{}/v0.1/{tool}/versions/2.0.0", app.base)).json(&server_json_with("io.example/tool", "2.0.0", json!({ "description": "edited" })))).await;
        let deleted = app.delete(&format!("/v0/{tool}/versions/1.0.0")).await;
        let stored = app.get(&format!("/registry/internal/v0.1/{tool}/versions?include_deleted=true")).await;
        let aggregated_only = app.delete(&format!("/registry/v0.1/{tool}/versions/2.0.0")).await;

        assert_eq!(published.status, 201);
        assert_eq!(published.headers["location"], "/registry/internal/v0.1/servers/io.example%2Ftool/versions/1.0.0");
        assert_eq!(official(&one)["status"], "deprecated");
        assert_eq!(all.body["updatedCount"], 2);
        assert_eq!(edited.body["server"]["description"], "edited");
        assert_eq!(deleted.body["server"]["version"], "1.0.0");
        assert_eq!(stored.versions(), [("io.example/tool".to_owned(), "2.0.0".to_owned())], "the writes went to the managed registry");
        assert_eq!(stored.body["servers"][0]["_meta"]["io.modelcontextprotocol.registry/official"]["statusMessage"], "moved");
        aggregated_only.problem(405);
    }

    async fn root_writes_without_one_publish_registry_say_how_to_set_one(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("a"), managed_registry("b")]).await;

        let refused = [
            app.patch_json("/v0.1/servers/io.example%2Ftool/status", &json!({ "status": "deleted" })).await,
            app.delete("/v0/servers/io.example%2Ftool/versions/1.0.0").await,
        ];

        for reply in refused {
            assert!(reply.problem(404)["detail"].as_str().unwrap().contains("publishRegistry"), "{}", reply.body);
        }
    }
}
