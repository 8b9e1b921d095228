//! Publishing to managed registries: per registry and at the root, the validation answers, and the race
//! between replicas.

use registry_runtime::config::Config;
use registry_testkit::*;
use serde_json::{Value, json};

use crate::helpers::*;

/// Every kind of field a server.json can carry.
fn rich(version: &str) -> Value {
    server_json_with(
        "com.example.platform/weather",
        version,
        json!({
            "title": "Weather",
            "websiteUrl": "https://docs.example.com/weather",
            "repository": { "url": "https://git.example.com/platform/weather", "source": "gitea", "id": "42" },
            "icons": [{ "src": "https://cdn.example.com/weather.svg", "mimeType": "image/svg+xml", "sizes": ["any"], "theme": "dark" }],
            "packages": [{
                "registryType": "oci",
                "identifier": "registry.example.com/platform/weather:2",
                "transport": { "type": "streamable-http", "url": "http://localhost:{port}/mcp" },
                "runtimeArguments": [{ "type": "named", "name": "-p", "value": "{port}:8080", "variables": { "port": { "default": "8080" } } }],
                "packageArguments": [{ "type": "positional", "valueHint": "port", "default": "8080" }],
                "environmentVariables": [{ "name": "WEATHER_TOKEN", "isSecret": true, "isRequired": true }]
            }],
            "remotes": [{
                "type": "sse",
                "url": "https://{tenant}.weather.example.com/sse",
                "headers": [{ "name": "X-Api-Key", "value": "{key}", "isSecret": true, "variables": { "key": { "isSecret": true } } }],
                "variables": { "tenant": { "choices": ["eu", "us"], "default": "eu" } }
            }],
            "_meta": { "io.modelcontextprotocol.registry/publisher-provided": { "com.example.ci": { "pipeline": 1842, "tags": ["weather"] } } }
        }),
    )
}

on_both_backends! {
    async fn a_published_version_is_201_with_its_location_and_reads_back_unchanged(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal"), file_registry("files")]).await;
        let document = rich("2.0.0");

        let created = app.post_json("/registry/internal/v0.1/publish", &document).await;
        let location = created.headers["location"].to_str().unwrap().to_owned();
        let by_location = app.get(&location).await;
        let latest = app.get("/v0.1/servers/com.example.platform%2Fweather/versions/latest").await;
        let listed = app.get("/registry/internal/v0.1/servers?search=weather").await;

        assert_eq!(created.status, 201, "{}", created.body);
        assert_api_shape(&created.body, "ServerResponse");
        assert_eq!(location, "/registry/internal/v0.1/servers/com.example.platform%2Fweather/versions/2.0.0");
        assert_eq!(created.body["server"], document);
        let official = &created.body["_meta"]["io.modelcontextprotocol.registry/official"];
        assert_eq!((official["status"].as_str(), official["isLatest"].as_bool()), (Some("active"), Some(true)));
        assert_eq!(by_location.body, created.body);
        assert_eq!(latest.body["server"], document, "the aggregated view has it at once, byte for byte");
        assert_eq!(listed.versions(), [("com.example.platform/weather".to_owned(), "2.0.0".to_owned())]);
    }

    async fn an_older_version_published_later_does_not_become_latest(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal")]).await;

        app.post_json("/registry/internal/v0.1/publish", &server_json("io.example/tool", "2.0.0")).await;
        let older = app.post_json("/registry/internal/v0.1/publish", &server_json("io.example/tool", "1.0.1")).await;
        let latest = app.get("/registry/internal/v0.1/servers/io.example%2Ftool/versions/latest").await;

        assert_eq!(older.status, 201);
        assert_eq!(older.body["_meta"]["io.modelcontextprotocol.registry/official"]["isLatest"], false);
        assert_eq!(latest.body["server"]["version"], "2.0.0");
    }

    async fn publish_refusals_have_their_own_status_codes(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal"), file_registry("files")]).await;
        let url = |registry: &str| format!("{}/registry/{registry}/v0.1/publish", app.base);
        let tool = server_json_with("io.example/tool", "1.0.0", json!({ "remotes": [{ "type": "sse", "url": "https://mcp.example.com/sse" }] }));
        app.post_json("/registry/internal/v0.1/publish", &tool).await;
        let huge = server_json_with("io.example/huge", "1.0.0", json!({ "title": "x".repeat(1024 * 1024) }));

        let unknown = app.post_json("/registry/nowhere/v0.1/publish", &tool).await;
        let not_managed = app.post_json("/registry/files/v0.1/publish", &tool).await;
        let mut changed = tool.clone();
        changed["description"] = json!("the same version, another document");
        let duplicate = app.post_json("/registry/internal/v0.1/publish", &changed).await;
        let same_url = app.post_json("/registry/internal/v0.1/publish", &server_json_with("io.example/copy", "1.0.0", json!({ "remotes": tool["remotes"] }))).await;
        let too_large = app.post_json("/registry/internal/v0.1/publish", &huge).await;
        let not_json = app.send(app.client.post(url("internal")).header("content-type", "application/json").body("{oops")).await;
        let wrong_type = app.send(app.client.post(url("internal")).header("content-type", "text/plain").body("{}")).await;

        unknown.problem(404);
        let detail = not_managed.problem(403)["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("files") && detail.contains("file registry"), "{detail}");
        assert!(duplicate.problem(409)["detail"].as_str().unwrap().contains("already exists"));
        assert!(same_url.problem(409)["detail"].as_str().unwrap().contains("already used by server io.example/tool"));
        too_large.problem(413);
        assert!(not_json.problem(400)["detail"].as_str().unwrap().contains("not valid JSON"));
        wrong_type.problem(415);
    }

    async fn a_retried_publish_of_the_same_document_is_200_with_the_stored_version(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal")]).await;
        let document = server_json_with("io.example/tool", "1.0.0", json!({"title": "Tool"}));

        let first = app.post_json("/v0.1/publish", &document).await;
        let retry = app.post_json("/v0.1/publish", &document).await;
        let versions = app.get("/registry/internal/v0.1/servers/io.example%2Ftool/versions").await;

        assert_eq!((first.status.as_u16(), retry.status.as_u16()), (201, 200));
        assert_eq!(retry.body, first.body, "the stored ServerResponse, untouched");
        assert_eq!(retry.headers["location"], first.headers["location"]);
        assert_eq!(versions.versions().len(), 1);
    }

    async fn an_invalid_server_json_is_422_with_every_location(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal")]).await;
        let mut document = server_json_with("io.example/tool", "^1.0.0", json!({
            "status": "active",
            "websiteUrl": "http://docs.example.com",
            "_meta": { "tools": [] },
            "remotes": [{ "type": "streamable-http", "url": "https://127.0.0.1/mcp" }]
        }));
        document.as_object_mut().unwrap().remove("description");

        let reply = app.post_json("/registry/internal/v0.1/publish", &document).await;
        let stored = app.get("/registry/internal/v0.1/servers").await;

        let problem = reply.problem(422);
        let mut locations: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["location"].as_str().unwrap()).collect();
        locations.sort_unstable();
        assert_eq!(locations, ["body", "body._meta.tools", "body.remotes[0].url", "body.status", "body.version", "body.websiteUrl"]);
        assert!(problem["errors"].as_array().unwrap().iter().all(|e| !e["message"].as_str().unwrap().is_empty()));
        assert_eq!(stored.versions(), [], "nothing is stored");
    }

    async fn each_validation_rule_refuses_a_publish_with_its_location(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal")]).await;
        let remote = |url: &str| json!({ "remotes": [{ "type": "streamable-http", "url": url }] });
        let package = |transport: Value| json!({ "packages": [{ "registryType": "npm", "identifier": "@example/tool", "transport": transport }] });
        let cases: Vec<(Value, &str)> = vec![
            (json!({ "$schema": "https://static.modelcontextprotocol.io/schemas/draft/server.schema.json" }), "body.$schema"),
            (json!({ "name": "io.example/-tool" }), "body.name"),
            (json!({ "description": "" }), "body.description"),
            (json!({ "version": "latest" }), "body.version"),
            (json!({ "version": "1.2.*" }), "body.version"),
            (json!({ "version": "1.0 || 2.0" }), "body.version"),
            (json!({ "websiteUrl": "http://example.com" }), "body.websiteUrl"),
            (json!({ "icons": [{ "src": "http://cdn.example.com/i.png" }] }), "body.icons[0].src"),
            (json!({ "_meta": { "io.modelcontextprotocol.registry/official": {} } }), "body._meta.io.modelcontextprotocol.registry/official"),
            (json!({ "_meta": { "io.modelcontextprotocol.registry/publisher-provided": { "blob": "b".repeat(5000) } } }), "body._meta.io.modelcontextprotocol.registry/publisher-provided"),
            (json!({ "packages": [{ "registryType": "npm", "identifier": "@example/tool" }] }), "body.packages[0]"),
            (package(json!({ "type": "stdio", "url": "https://example.com/mcp" })), "body.packages[0].transport.url"),
            (package(json!({ "type": "streamable-http" })), "body.packages[0].transport"),
            (package(json!({ "type": "sse", "url": "https://example.com/{undefined}" })), "body.packages[0].transport.url"),
            (json!({ "packages": [{ "registryType": "npm", "identifier": "@example/tool", "transport": { "type": "stdio" }, "runtimeArguments": [{ "type": "named", "name": "$flag" }] }] }), "body.packages[0].runtimeArguments[0].name"),
            (remote("https://localhost:8443/mcp"), "body.remotes[0].url"),
            (remote("http://mcp.example.com/mcp"), "body.remotes[0].url"),
            (remote("https://{region}.example.com/mcp"), "body.remotes[0].url"),
        ];
        for (change, location) in cases {
            let document = server_json_with("io.example/tool", "1.0.0", change.clone());

            let reply = app.post_json("/registry/internal/v0.1/publish", &document).await;

            let locations: Vec<&str> = reply.problem(422)["errors"].as_array().unwrap().iter().map(|e| e["location"].as_str().unwrap()).collect();
            assert!(locations.contains(&location), "{change}: {locations:?}");
        }
        assert_eq!(app.get("/registry/internal/v0.1/servers").await.versions(), [], "nothing was stored");
    }

    async fn validate_always_answers_200_with_typed_issues(test: &TestStore) {
        let app = spawn_app(test, vec![managed_registry("internal"), file_registry("files")]).await;
        app.post_json("/registry/internal/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
        let older_schema = server_json_with("io.example/tool", "2.0.0", json!({ "$schema": "https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json" }));
        let url = format!("{}/registry/internal/v0.1/validate", app.base);

        let valid = app.post_json("/registry/internal/v0.1/validate", &server_json("io.example/tool", "2.0.0")).await;
        let warned = app.post_json("/registry/internal/v0.1/validate", &older_schema).await;
        let invalid = app.post_json("/registry/internal/v0.1/validate", &server_json("io.example/tool", "latest")).await;
        let taken = app.post_json("/registry/internal/v0.1/validate", &server_json("io.example/tool", "1.0.0")).await;
        let not_json = app.send(app.client.post(&url).header("content-type", "application/json").body("[")).await;
        let not_managed = app.post_json("/registry/files/v0.1/validate", &server_json("io.example/tool", "2.0.0")).await;
        let stored = app.get("/registry/internal/v0.1/servers").await;

        assert_eq!(valid.body, json!({ "valid": true, "issues": [] }));
        assert_eq!(warned.body["valid"], true);
        assert_eq!(warned.body["issues"][0]["severity"], "warning");
        assert_eq!(invalid.status, 200);
        assert_eq!(invalid.body["valid"], false);
        assert_eq!(invalid.body["issues"][0], json!({ "type": "semantic", "path": "version", "severity": "error", "message": invalid.body["issues"][0]["message"] }));
        assert_eq!((taken.body["issues"][0]["type"].as_str(), taken.body["issues"][0]["path"].as_str()), (Some("conflict"), Some("version")));
        assert_eq!((not_json.status.as_u16(), &not_json.body["issues"][0]["type"]), (200, &json!("json")));
        not_managed.problem(403);
        assert_eq!(stored.versions().len(), 1, "validation stores nothing");
    }

    async fn root_publish_routes_use_the_only_managed_registry(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files"), managed_registry("internal")]).await;

        // The official publisher, at some releases, sends an absent repository as `{}`.
        let from_mcp_publisher = server_json_with("io.example/tool", "1.0.0", json!({ "repository": {} }));
        let v0 = app.post_json("/v0/publish", &from_mcp_publisher).await;
        let v01 = app.post_json("/v0.1/publish", &server_json("io.example/tool", "1.1.0")).await;
        let checked = app.post_json("/v0.1/validate", &server_json("io.example/tool", "1.1.0")).await;
        let stored = app.get("/registry/internal/v0.1/servers").await;

        assert_eq!((v0.status.as_u16(), v01.status.as_u16()), (201, 201));
        assert!(v0.headers["location"].to_str().unwrap().starts_with("/registry/internal/"));
        assert!(v0.body["server"].get("repository").is_none(), "stored as a document without a repository");
        assert_eq!(checked.body["valid"], false, "1.1.0 exists now");
        assert_eq!(stored.versions().len(), 2);
    }
}

on_both_backends! {
    async fn root_publish_routes_need_publish_registry_when_several_registries_are_managed(test: &TestStore) {
        let registries = vec![managed_registry("team-a"), managed_registry("team-b")];
        let ambiguous = spawn_app(test, registries.clone()).await;
        let config = Config { publish_registry: Some(name("team-b")), ..test_config(test.config.clone(), registries) };
        let chosen = spawn_config(test, config).await;

        let refused = ambiguous.post_json("/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
        let published = chosen.post_json("/v0/publish", &server_json("io.example/tool", "1.0.0")).await;

        assert!(refused.problem(404)["detail"].as_str().unwrap().contains("set publishRegistry"));
        assert_eq!(published.status, 201);
        assert_eq!(chosen.get("/registry/team-b/v0.1/servers").await.versions().len(), 1);
        assert_eq!(chosen.get("/registry/team-a/v0.1/servers").await.versions().len(), 0);
    }
}

/// Two replicas on one PostgreSQL, for the race tests.
async fn two_replicas(test: &TestStore) -> (TestApp, TestApp) {
    (
        spawn_app(test, vec![managed_registry("internal")]).await,
        spawn_app(test, vec![managed_registry("internal")]).await,
    )
}

/// Publishes `one` to the first replica and `other` to the second at the same moment; exactly one must win.
/// Both replicas publish at once; the sorted statuses.
async fn race(replicas: &(TestApp, TestApp), one: &Value, other: &Value) -> [u16; 2] {
    let (a, b) = tokio::join!(
        replicas.0.post_json("/registry/internal/v0.1/publish", one),
        replicas.1.post_json("/registry/internal/v0.1/publish", other),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    statuses
}

/// Two replicas publish the same version with different documents at the same moment: the database decides,
/// so each version is created exactly once and the other request gets 409. With the same document (a client
/// retrying on another replica), the other request gets 200 and the stored version.
#[tokio::test]
async fn two_replicas_publishing_the_same_version_give_one_201_and_one_409() {
    let test = TestStore::postgres().await;
    let replicas = two_replicas(&test).await;

    for round in 0..25 {
        let version = format!("1.0.{round}");
        let document = server_json("io.example/raced", &version);
        let rival = server_json_with("io.example/raced", &version, json!({"description": "the other one"}));
        assert_eq!(race(&replicas, &document, &rival).await, [201, 409], "round {round}");
        let same = server_json("io.example/same", &version);
        assert_eq!(race(&replicas, &same, &same).await, [200, 201], "round {round}: the retry is 200");
    }
    let versions = replicas.0.get("/registry/internal/v0.1/servers/io.example%2Fraced/versions").await;
    assert_eq!(versions.versions().len(), 25);
    let latest = replicas.1.get("/registry/internal/v0.1/servers/io.example%2Fraced/versions/latest").await;
    assert_eq!(latest.body["server"]["version"], "1.0.24");
    test.cleanup().await;
}

/// Two replicas publish two different servers with the same remote URL at the same moment: the registry's
/// remote-URL lock lets exactly one of them have it.
#[tokio::test]
async fn two_replicas_claiming_one_remote_url_for_different_servers_give_one_201_and_one_409() {
    let test = TestStore::postgres().await;
    let replicas = two_replicas(&test).await;

    for round in 0..15 {
        let remotes =
            json!({ "remotes": [{ "type": "sse", "url": format!("https://mcp.example.com/{round}/sse") }] });
        let one = server_json_with(&format!("io.example/a{round}"), "1.0.0", remotes.clone());
        let other = server_json_with(&format!("io.example/b{round}"), "1.0.0", remotes);
        assert_eq!(race(&replicas, &one, &other).await, [201, 409], "round {round}");
    }
    assert_eq!(replicas.0.get("/registry/internal/v0.1/servers?limit=100").await.versions().len(), 15);
    test.cleanup().await;
}
