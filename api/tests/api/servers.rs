//! The three reads, per view.

use registry_testkit::*;
use serde_json::json;

use crate::helpers::*;

fn pair(n: &str, v: &str) -> (String, String) {
    (n.to_owned(), v.to_owned())
}

on_both_backends! {
    async fn every_item_carries_the_official_meta_and_matches_the_official_schema(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;
        app.snapshot("files", vec![entry("io.example/weather", "1.0.0"), entry("io.example/weather", "1.1.0")]).await;

        let reply = app.get("/registry/v0.1/servers").await;

        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type(), "application/json");
        assert_api_shape(&reply.body, "ServerList");
        assert_eq!(reply.body["metadata"], json!({"count": 2}), "no nextCursor without a next page");
        let meta = &reply.body["servers"][1]["_meta"]["io.modelcontextprotocol.registry/official"];
        assert_eq!(meta["status"], "active");
        assert_eq!(meta["isLatest"], true);
        for key in ["statusChangedAt", "publishedAt", "updatedAt"] {
            let time = meta[key].as_str().unwrap();
            assert!(time.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{key}: {time}");
        }
        assert!(meta.get("statusMessage").is_none(), "omitted when unset");
        assert_eq!(reply.body["servers"][0]["_meta"]["io.modelcontextprotocol.registry/official"]["isLatest"], false);
    }

    async fn the_root_aliases_serve_the_aggregated_view(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("first"), file_registry("second")]).await;
        app.snapshot("first", vec![entry("io.example/shared", "1.0.0")]).await;
        app.snapshot("second", vec![entry("io.example/shared", "2.0.0"), entry("io.example/other", "1.0.0")]).await;

        let aggregated = app.get("/registry/v0.1/servers").await;
        let v01 = app.get("/v0.1/servers").await;
        let v0 = app.get("/v0/servers").await;

        assert_eq!(aggregated.versions(), [pair("io.example/other", "1.0.0"), pair("io.example/shared", "1.0.0")]);
        assert_eq!(v01.body, aggregated.body);
        assert_eq!(v0.body, aggregated.body);
    }

    async fn a_registry_route_serves_only_that_registry_and_an_unknown_one_is_404(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("first"), file_registry("second")]).await;
        app.snapshot("first", vec![entry("io.example/shared", "1.0.0")]).await;
        app.snapshot("second", vec![entry("io.example/shared", "2.0.0")]).await;

        let second = app.get("/registry/second/v0.1/servers").await;
        let version = app.get("/registry/second/v0.1/servers/io.example%2Fshared/versions/latest").await;
        let unknown = app.get("/registry/nope/v0.1/servers").await;
        let invalid = app.get("/registry/Not_A_Label/v0.1/servers/io.example%2Fshared/versions").await;

        assert_eq!(second.versions(), [pair("io.example/shared", "2.0.0")]);
        assert_eq!(version.body["server"]["version"], "2.0.0");
        assert_eq!(unknown.problem(404)["detail"], "Registry nope not found");
        invalid.problem(404);
    }

    async fn versions_come_newest_first_and_an_unknown_server_is_404(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;
        app.snapshot("files", vec![entry("io.example/tool", "1.0.0")]).await;
        app.snapshot("files", vec![entry("io.example/tool", "1.0.0"), entry("io.example/tool", "2.0.0")]).await;

        let versions = app.get("/v0.1/servers/io.example%2Ftool/versions").await;
        let unknown = app.get("/v0.1/servers/io.example%2Fnothing/versions").await;

        assert_eq!(versions.versions(), [pair("io.example/tool", "2.0.0"), pair("io.example/tool", "1.0.0")]);
        assert_eq!(versions.body["metadata"], json!({"count": 2}));
        assert_api_shape(&versions.body, "ServerList");
        assert_eq!(unknown.problem(404)["detail"], "Server not found");
    }

    async fn one_version_by_encoded_name_and_version_or_latest(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;
        app.snapshot("files", vec![entry("io.example/tool", "1.0.0+build.7"), entry("io.example/tool", "0.9.0")]).await;

        let exact = app.get("/v0.1/servers/io.example%2Ftool/versions/1.0.0%2Bbuild.7").await;
        let latest = app.get("/v0/servers/io.example%2Ftool/versions/latest").await;
        let missing = app.get("/v0.1/servers/io.example%2Ftool/versions/3.0.0").await;
        let unencoded = app.get("/v0.1/servers/io.example/tool/versions/latest").await;

        assert_eq!(exact.status, 200);
        assert_api_shape(&exact.body, "ServerResponse");
        assert_eq!(exact.body["server"]["version"], "1.0.0+build.7");
        assert_eq!(latest.body["server"]["version"], "1.0.0+build.7");
        assert_eq!(missing.problem(404)["detail"], "Server not found");
        unencoded.problem(404);
    }

    async fn a_synced_document_is_served_exactly_as_stored(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;
        let document = server_with("io.example/odd", "1.0.0", json!({
            "x-vendor": {"kept": [1, 2.5, null]},
            "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"acme": {"tier": "gold"}}}
        }));
        app.snapshot("files", vec![registry_core::formats::Entry { server: document.clone(), origin: None }]).await;

        let reply = app.get("/v0.1/servers/io.example%2Fodd/versions/1.0.0").await;

        assert_eq!(reply.body["server"], serde_json::to_value(&document).unwrap());
    }

    async fn deleted_versions_are_hidden_unless_asked_for(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;
        app.snapshot("files", vec![entry("io.example/tool", "1.0.0"), entry("io.example/gone", "1.0.0")]).await;
        app.snapshot("files", vec![entry("io.example/tool", "1.0.0")]).await;

        let hidden = app.get("/v0.1/servers").await;
        let shown = app.get("/v0.1/servers?include_deleted=true").await;
        let versions = app.get("/v0.1/servers/io.example%2Fgone/versions").await;
        let versions_shown = app.get("/v0.1/servers/io.example%2Fgone/versions?include_deleted=true").await;
        let one = app.get("/v0.1/servers/io.example%2Fgone/versions/1.0.0?include_deleted=true").await;

        assert_eq!(hidden.versions(), [pair("io.example/tool", "1.0.0")]);
        assert_eq!(shown.versions().len(), 2);
        versions.problem(404);
        assert_eq!(versions_shown.versions(), [pair("io.example/gone", "1.0.0")]);
        assert_eq!(one.body["_meta"]["io.modelcontextprotocol.registry/official"]["status"], "deleted");
    }
}
