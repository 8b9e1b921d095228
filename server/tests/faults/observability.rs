//! What operators watch: the internal listener of both processes, as Prometheus scrapes it (`/metrics` passes
//! `promtool check metrics`, from Debian's `prometheus` package, which `scripts/test.sh` installs, and carries
//! the HTTP, cache, auth, sync, catalogue, queue, pool and build series; the probes answer there without
//! authentication), and the request id that follows a sync asked for through the API into the job's logs.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::FutureExt as _;

use crate::support::*;

/// `promtool check metrics` on `text`: its findings, empty when it passes.
fn promtool_findings(text: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/test.sh installs Debian's prometheus package)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

async fn get(url: &str) -> (u16, String) {
    let response = client().get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn config(dir: &std::path::Path, metrics: bool) -> std::path::PathBuf {
    let catalogue = catalogue(dir, 3);
    write_config(
        dir,
        "registry.yaml",
        &format!(
            "registries:\n  - {{name: files, file: {{path: '{}'}}, syncPolicy: {{interval: 1h}}}}\n\
             auth: {{mode: anonymous}}\ndatabase: {{path: '{}'}}\nworker: {{dataDir: '{}'}}\nmetrics: {{enabled: {metrics}}}\n",
            catalogue.display(),
            dir.join("registry.db").display(),
            dir.display()
        ),
    )
}

async fn scrape_until(url: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client().get(url).send().await
            && response.status() == 200
        {
            let text = response.text().await.unwrap();
            if text.contains(needle) {
                return text;
            }
            assert!(std::time::Instant::now() < deadline, "no {needle:?} in {url} within 30 s:\n{text}");
        }
        assert!(std::time::Instant::now() < deadline, "{url} did not answer 200 within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The content generation `registry` has in the SQLite database at `path`.
async fn stored_generation(path: &std::path::Path, registry: &str) -> i64 {
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    (sqlx::query_scalar("select generation from content_generation where registry = ?").bind(registry))
        .fetch_one(&mut db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_processes_serve_metrics_that_promtool_accepts_and_probes_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), true);
    let (_api, base, internal) = spawn_with_internal("registry-api", &config, dir.path());
    until_ready(&base).await;
    // The first sync of `files` changes the generations the caches are keyed by: the reads below come after
    // it, so that each counts as the test says.
    let metrics_url = format!("{internal}/metrics");
    scrape_until(&metrics_url, "sync_runs_total{registry=\"files\",outcome=\"written\"} 1").await;
    // The replica reads the generation it keys its pages by a moment later (at most a second on SQLite):
    // wait until it serves the one the sync stored.
    let generation = stored_generation(&dir.path().join("registry.db"), "files").await;
    scrape_until(&metrics_url, &format!("registry_content_generation{{registry=\"files\"}} {generation}\n"))
        .await;
    for _ in 0..3 {
        client().get(format!("{base}/v0.1/servers")).send().await.unwrap();
    }
    client().get(format!("{base}/v0.1/servers/io.example%2Ftool-0/versions/latest")).send().await.unwrap();
    client().get(format!("{base}/no/such/route")).send().await.unwrap();
    for (tool, arguments) in [
        ("search_servers", serde_json::json!({})),
        ("search_servers", serde_json::json!({})),
        ("get_server", serde_json::json!({"name": "io.example/none"})),
    ] {
        let call = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        let mcp = (client().post(format!("{base}/mcp")))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .body(call.to_string());
        assert_eq!(mcp.send().await.unwrap().status(), 200);
    }

    // The values read from the database are read again at most every 5 s: wait for the synced ones.
    let text =
        scrape_until(&metrics_url, "registry_server_versions{registry=\"files\",status=\"active\"} 3").await;
    let findings = promtool_findings(&text);
    assert!(findings.trim().is_empty(), "promtool: {findings}");
    for series in [
        "sync_runs_total{registry=\"files\",outcome=\"written\"} 1",
        "http_requests_total{route=\"/v0.1/servers\",method=\"GET\",status=\"200\"} 3",
        "http_requests_total{route=\"/v0.1/servers/{serverName}/versions/{version}\",method=\"GET\",status=\"200\"} 1",
        "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "mcp_requests_total{method=\"tools/call\",tool=\"search_servers\",outcome=\"ok\"} 2",
        "mcp_requests_total{method=\"tools/call\",tool=\"get_server\",outcome=\"tool_error\"} 1",
        "mcp_request_duration_seconds_count{method=\"tools/call\",tool=\"search_servers\"} 2",
        "http_request_duration_seconds_bucket{route=\"/v0.1/servers\",method=\"GET\",le=\"+Inf\"} 3",
        "http_requests_in_flight ",
        "sync_servers_total{registry=\"files\",change=\"inserted\"} 3",
        "sync_last_success_timestamp_seconds{registry=\"files\"} ",
        "sync_duration_seconds_count{registry=\"files\"} 1",
        "registry_server_versions{registry=\"files\",status=\"active\"} 3",
        "sync_queue_jobs{state=\"Done\"} ",
        "sync_queue_oldest_pending_age_seconds ",
        "db_pool_connections{pool=\"read\",state=\"idle\"} ",
        "db_pool_acquire_duration_seconds_count{pool=\"read\"} ",
        "page_cache_lookups_total{tier=\"memory\",result=\"hit\"} 2",
        // Two REST pages, and the MCP search and version read, each read once.
        "page_cache_lookups_total{tier=\"memory\",result=\"miss\"} 4",
        // The second MCP search is the first one's answer again.
        "page_cache_lookups_total{tier=\"mcp\",result=\"hit\"} 1",
        "page_cache_lookups_total{tier=\"mcp\",result=\"miss\"} 2",
        "page_cache_memory_bytes ",
        "build_info{version=",
        "# HELP http_requests_total ",
        "# TYPE http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(series), "no {series:?} in:\n{text}");
    }
    assert!(!text.contains("io.example"), "no raw path becomes a label");
    for (path, expected) in [("/health", "ok"), ("/readiness", "ready"), ("/version", "gitCommit")] {
        let (status, body) = get(&format!("{internal}{path}")).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains(expected), "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_its_own_metrics_and_with_metrics_off_none() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), true);
    let (_worker, _, internal) = spawn_with_internal("registry-worker", &config, dir.path());
    let text = scrape_until(
        &format!("{internal}/metrics"),
        "registry_server_versions{registry=\"files\",status=\"active\"} 3",
    )
    .await;
    let findings = promtool_findings(&text);
    assert!(findings.trim().is_empty(), "promtool: {findings}");
    assert!(text.contains("sync_runs_total{registry=\"files\",outcome=\"written\"} 1"), "{text}");
    assert!(!text.contains("http_requests_total"), "the worker answers no API requests");
    let (status, body) = get(&format!("{internal}/readiness")).await;
    assert_eq!((status, body.contains("ready")), (200, true), "{body}");

    let off = tempfile::tempdir().unwrap();
    let config = self::config(off.path(), false);
    let (_quiet, _, internal) = spawn_with_internal("registry-worker", &config, off.path());
    let url = format!("{internal}/metrics");
    until("the worker without metrics answers", Duration::from_secs(30), || async {
        client().get(&url).send().await.is_ok_and(|r| r.status() == 404)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_verifications_and_key_set_fetches_are_counted_by_provider_and_outcome() {
    let mock = registry_testkit::oidc::MockProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "registry.yaml",
        &format!(
            "registries:\n  - {{name: internal, managed: {{}}}}\n\
             auth:\n  mode: oauth\n  oauth:\n    resourceUrl: https://registry.example\n    providers:\n      \
             - {{name: mock, issuerUrl: '{}', audience: registry, allowPrivateIP: true}}\n\
             database: {{path: '{}'}}\nworker: {{dataDir: '{}'}}\n",
            mock.issuer,
            dir.path().join("registry.db").display(),
            dir.path().display()
        ),
    );
    let (_api, base, internal) = spawn_with_internal("registry-api", &config, dir.path());
    until_ready(&base).await;
    let token = mock.token("registry", serde_json::json!({}));
    let read = |token: String| {
        let url = format!("{base}/v0.1/servers");
        async move { client().get(url).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    // The key set loads in the background: until it has, the token is refused.
    until("a token verifies", Duration::from_secs(30), || read(token.clone()).map(|status| status == 200))
        .await;
    assert_eq!(read("not.a.token".into()).await, 401);

    let text = scrape_until(
        &format!("{internal}/metrics"),
        "auth_token_verifications_total{provider=\"none\",outcome=\"rejected\"}",
    )
    .await;
    assert!(promtool_findings(&text).trim().is_empty());
    for series in [
        "auth_token_verifications_total{provider=\"mock\",outcome=\"accepted\"} ",
        "auth_jwks_refreshes_total{provider=\"mock\",outcome=\"ok\"} ",
        "http_requests_total{route=\"/v0.1/servers\",method=\"GET\",status=\"401\"} ",
    ] {
        assert!(text.contains(series), "no {series:?} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_asked_for_through_the_api_logs_under_the_request_id_that_asked() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), true);
    let (api, base, _) = spawn_with_internal("registry-api", &config, dir.path());
    until_ready(&base).await;
    until("the first sync", Duration::from_secs(30), || async { api.logs().contains("sync done") }).await;

    assert_eq!(ask_sync(&base, "files", "trace-me-7").await, 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let logs = api.logs();
        if logs.lines().any(|line| line.contains("request.id=\"trace-me-7\"") && line.contains("sync done")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no sync logged under the request id in:\n{logs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `registry-api healthcheck --address ADDRESS`: its exit code and stderr.
fn healthcheck(internal: &str) -> (Option<i32>, String) {
    let address = internal.trim_start_matches("http://");
    let output =
        Command::new(binary("registry-api")).args(["healthcheck", "--address", address]).output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_images_healthcheck_says_whether_an_api_or_a_worker_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), true);
    let (mut api, base, api_internal) = spawn_with_internal("registry-api", &config, dir.path());
    until_ready(&base).await;
    assert_eq!(healthcheck(&api_internal).0, Some(0));
    let (_worker, _, worker_internal) = spawn_with_internal("registry-worker", &config, dir.path());
    until_ready(&worker_internal).await;
    assert_eq!(healthcheck(&worker_internal).0, Some(0));

    api.kill();
    let (code, stderr) = healthcheck(&api_internal);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not ready") && stderr.contains("/readiness"), "{stderr}");

    // A process that answers, but not ready (draining, or the schema behind), is unhealthy too.
    let app = axum::Router::new().route(
        "/readiness",
        axum::routing::get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "draining") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let draining = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (code, stderr) = healthcheck(&draining);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("answered 503 Service Unavailable: draining"), "{stderr}");
}
