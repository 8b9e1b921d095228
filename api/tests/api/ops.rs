//! Probes, build information, the OpenAPI document, and the cross-cutting layers (request ids, CORS,
//! compression).

use registry_api::Application;
use registry_runtime::config::CorsConfig;
use registry_store::{Scope, Store};
use registry_testkit::*;

use crate::helpers::*;

on_both_backends! {
    async fn health_readiness_and_version_answer(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;

        let health = app.get("/health").await;
        let ready = app.get("/readiness").await;
        let version = app.get("/version").await;

        assert_eq!((health.status.as_u16(), &health.body["status"]), (200, &"ok".into()));
        assert_eq!((ready.status.as_u16(), &ready.body["status"]), (200, &"ready".into()));
        assert_eq!(version.body["version"], env!("CARGO_PKG_VERSION"));
        assert!(version.body["gitCommit"].is_string() && version.body["buildDate"].is_string());
    }

    async fn the_openapi_document_covers_every_route(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;

        let document = app.get("/openapi.json").await.body;

        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = document["paths"].as_object().unwrap();
        for prefix in ["/registry/v0.1", "/registry/{registryName}/v0.1", "/v0.1", "/v0"] {
            for suffix in ["/servers", "/servers/{serverName}/versions", "/servers/{serverName}/versions/{version}"] {
                assert!(paths.contains_key(&format!("{prefix}{suffix}")), "{prefix}{suffix}");
            }
        }
        for path in ["/extension/v0/registries", "/extension/v0/registries/{name}", "/health", "/readiness", "/version"] {
            assert!(paths.contains_key(path), "{path}");
        }
        let writes = [
            ("post", "/registry/{registryName}/v0.1/publish"),
            ("post", "/registry/{registryName}/v0.1/validate"),
            ("post", "/v0.1/publish"),
            ("post", "/v0.1/validate"),
            ("delete", "/registry/{registryName}/v0.1/servers/{serverName}/versions/{version}"),
            ("get", "/registry/{registryName}/v0.1/servers/{serverName}/versions/{version}"),
            ("patch", "/registry/{registryName}/v0.1/servers/{serverName}/versions/{version}/status"),
            ("patch", "/registry/{registryName}/v0.1/servers/{serverName}/status"),
        ];
        for (method, path) in writes {
            assert!(paths[path][method].is_object(), "{method} {path}");
        }
        let specified = spec::api_operations();
        assert_eq!(specified.len(), 8, "the specification's operations: {specified:?}");
        for (method, path) in specified {
            for alias in ["/v0.1", "/v0"] {
                let ours = format!("{alias}{}", path.strip_prefix("/v0.1").unwrap());
                assert!(paths[&ours][&method].is_object(), "the specification's {method} {path} is documented at {ours}");
            }
        }
        let list = &paths["/registry/{registryName}/v0.1/servers"]["get"];
        let parameters: Vec<&str> = list["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(parameters, ["registryName", "cursor", "limit", "search", "version", "updated_since", "include_deleted"]);
        let ids: Vec<&str> = paths.values().flat_map(|item| item.as_object().unwrap().values()).filter_map(|op| op["operationId"].as_str()).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "operation ids are unique");
        assert!(document["components"]["schemas"]["ServerDetail"].is_object());
        let name = &document["components"]["schemas"]["ServerDetail"]["properties"]["name"];
        assert_eq!((name["minLength"].as_u64(), name["maxLength"].as_u64()), (Some(3), Some(200)), "{name}");
        assert!(name["pattern"].is_string(), "the publish rules are in the schema: {name}");
        let publish = &paths["/v0.1/publish"]["post"]["responses"];
        for status in ["200", "201", "400", "409", "413", "415", "422", "503"] {
            assert!(publish[status].is_object(), "publish declares {status}");
        }
        let versions = &paths["/v0/servers/{serverName}/versions"]["get"]["responses"];
        assert!(versions["422"].is_object() && versions["400"].is_object(), "include_deleted and URL errors are declared");
        for item in paths.values() {
            for operation in item.as_object().unwrap().values() {
                let unavailable = &operation["responses"]["503"];
                assert!(unavailable["headers"]["Retry-After"].is_object(), "every 503 names Retry-After: {operation}");
            }
        }
    }

    async fn request_ids_are_echoed_or_made(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;

        let given = app.send(app.client.get(format!("{}/health", app.base)).header("x-request-id", "trace-me-42")).await;
        let made = app.get("/v0.1/servers").await;
        let failed = app.get("/v0.1/servers?limit=0").await;

        assert_eq!(given.headers["x-request-id"], "trace-me-42");
        assert_eq!(made.headers["x-request-id"].to_str().unwrap().len(), 36, "a UUID");
        assert!(failed.headers.contains_key("x-request-id"));
    }

    async fn reads_allow_any_origin_and_lists_are_compressed_on_request(test: &TestStore) {
        let app = spawn_app(test, vec![file_registry("files")]).await;
        app.snapshot("files", (0..20).map(|i| entry(&format!("io.example/s{i:02}"), "1.0.0")).collect()).await;

        let cors = app.send(app.client.get(format!("{}/v0.1/servers", app.base)).header("origin", "https://portal.example")).await;
        let gzip = app.client.get(format!("{}/v0.1/servers", app.base)).header("accept-encoding", "gzip").send().await.unwrap();
        let brotli = app.client.get(format!("{}/v0.1/servers", app.base)).header("accept-encoding", "br").send().await.unwrap();
        let preflight = app.send(app.client.request(reqwest::Method::OPTIONS, format!("{}/v0.1/servers/x/versions/1", app.base))
            .header("origin", "https://portal.example").header("access-control-request-method", "PUT")).await;

        assert_eq!(cors.headers["access-control-allow-origin"], "*");
        assert_eq!(cors.headers["access-control-expose-headers"], "x-request-id,location,www-authenticate,etag,mcp-session-id,ratelimit-policy,ratelimit,retry-after", "a browser client can follow the auth flow, and see its rate limit");
        let mcp = app.send(app.client.request(reqwest::Method::OPTIONS, format!("{}/mcp", app.base))
            .header("origin", "https://agent.example").header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,mcp-protocol-version,mcp-method,mcp-name")).await;
        assert_eq!(mcp.headers["access-control-allow-headers"], "accept,content-type,authorization,mcp-protocol-version,mcp-method,mcp-name,mcp-session-id", "a browser MCP client may send them");
        assert_eq!(preflight.headers["access-control-allow-methods"], "GET,HEAD,OPTIONS,POST,PUT,PATCH,DELETE");
        assert_eq!(gzip.headers()["content-encoding"], "gzip");
        assert_eq!(brotli.headers()["content-encoding"], "br");
    }

    async fn configured_origins_replace_the_wildcard(test: &TestStore) {
        let cors = CorsConfig { allowed_origins: vec!["https://portal.example".into()] };
        let app = spawn_with(test, vec![file_registry("files")], cors).await;

        let allowed = app.send(app.client.get(format!("{}/v0.1/servers", app.base)).header("origin", "https://portal.example")).await;
        let other = app.send(app.client.get(format!("{}/v0.1/servers", app.base)).header("origin", "https://evil.example")).await;

        assert_eq!(allowed.headers["access-control-allow-origin"], "https://portal.example");
        assert!(!other.headers.contains_key("access-control-allow-origin"));
    }
}

#[tokio::test]
async fn a_postgres_replica_with_the_schema_behind_is_not_ready_until_migrated() {
    let database = PostgresDatabase::create().await;
    let config = test_config(database.config(), vec![file_registry("files")]);
    let application = Application::build(config.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", application.local_addr().unwrap().port());
    let server = tokio::spawn(application.run_until(std::future::pending()));
    let client = client_builder().build().unwrap();

    let behind = client.get(format!("{base}/readiness")).send().await.unwrap();
    let status = behind.status();
    let problem: serde_json::Value = behind.json().await.unwrap();
    // The registry set is not read yet: no answer may say a registry is missing, or that there are none.
    let listed = client.get(format!("{base}/extension/v0/registries")).send().await.unwrap().status();
    let published = client
        .post(format!("{base}/v0.1/publish"))
        .json(&server_json("io.example/early", "1.0.0"))
        .send()
        .await
        .unwrap()
        .status();
    Store::migrate(&config.database).await.unwrap();
    let after = ready_within(&client, &base, std::time::Duration::from_secs(20)).await;

    assert_eq!(status, 503);
    assert!(problem["detail"].as_str().unwrap().contains("registry-admin migrate"), "{problem}");
    assert_eq!((listed.as_u16(), published.as_u16()), (503, 503));
    assert_eq!(after, 200, "ready once the retry has stored the registries");
    server.abort();
    database.drop_now().await;
}

/// Polls `/readiness` until it answers 200 or the time is up; the last status.
async fn ready_within(client: &reqwest::Client, base: &str, limit: std::time::Duration) -> u16 {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let status = client.get(format!("{base}/readiness")).send().await.unwrap().status().as_u16();
        if status == 200 || std::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_embedded_server_whose_configuration_drops_a_managed_registry_with_data_refuses_to_start() {
    let test = TestStore::sqlite().await;
    test.store.apply_registries(&[managed_registry("internal"), file_registry("files")]).await.unwrap();
    test.store.insert_version(&name("internal"), &server("io.example/tool", "1.0.0")).await.unwrap();
    let config = test_config(test.config.clone(), vec![file_registry("files")]);

    let refused = Application::build(config, "127.0.0.1:0".parse().unwrap()).await.err().unwrap();

    let message = format!("{refused:#}");
    assert!(message.contains("`registry-admin drop-registry internal`"), "{message}");
    let kept =
        test.store.list_versions(&Scope::Registry(name("internal")), "io.example/tool", true).await.unwrap();
    assert_eq!(kept.len(), 1, "published versions are not deleted by a configuration change");
    test.cleanup().await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns_once_requests_are_done() {
    let test = TestStore::sqlite().await;
    let config = test_config(test.config.clone(), vec![file_registry("files")]);
    let application = Application::build(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", application.local_addr().unwrap().port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        stopped.await.ok();
    }));
    let client = client_builder().pool_max_idle_per_host(0).build().unwrap();
    assert_eq!(client.get(format!("{base}/health")).send().await.unwrap().status(), 200);

    stop.send(()).unwrap();
    let finished = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;

    assert!(matches!(finished, Ok(Ok(Ok(())))), "the server returns promptly once idle: {finished:?}");
    assert!(client.get(format!("{base}/health")).send().await.is_err(), "no longer accepting");
    test.cleanup().await;
}

#[tokio::test]
async fn a_read_past_the_statement_timeout_is_cancelled_with_503_while_a_write_waits_its_turn() {
    let test = TestStore::postgres().await;
    let app =
        spawn_config(&test, with_short_statement_timeout(&test, vec![managed_registry("internal")])).await;
    let lock = lock_versions(&test).await;

    let started = std::time::Instant::now();
    let read = app.get("/v0.1/servers").await;
    let read_took = started.elapsed();
    let publish = tokio::spawn({
        let (client, base) = (app.client.clone(), app.base.clone());
        async move {
            client
                .post(format!("{base}/v0.1/publish"))
                .json(&server_json("io.example/waits", "1.0.0"))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    // The lock outlives the statement timeout several times over; the write must not be cancelled by it.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    lock.rollback().await.unwrap();
    let published = publish.await.unwrap();

    read.problem(503);
    assert_eq!(read.headers["retry-after"], "5");
    assert!(
        read_took < std::time::Duration::from_secs(2),
        "cancelled at the statement timeout: {read_took:?}"
    );
    assert_eq!(published, 201, "writes carry no statement timeout");
    test.cleanup().await;
}
