//! Probe passes: a worker, as deployed, probes real MCP servers that no one here wrote (the Python SDK's
//! server, and the reference server on Node) behind a file registry with probing on, on both backends; and a
//! pass keeps to `perHostConcurrency` and `worker.probeConcurrency`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use registry_core::registry::{ProbePolicy, RegistryConfig};
use registry_runtime::config::{FileSource, Source};
use registry_store::Store;
use registry_store::jobs::{ProbeRegistry, ProbeScope, Trigger};
use registry_store::probes::{ProbeFilter, StoredProbe};
use registry_testkit::*;
use registry_worker::probe::Prober;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use super::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something answers HTTP on `port` (both servers answer `GET /` with 404 once up).
async fn until_up(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client =
        registry_runtime::outbound::client(None, true, Duration::from_secs(2), HostTable::default()).unwrap();
    while client.get(format!("http://127.0.0.1:{port}/")).send().await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not come up on port {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Python SDK's server (testkit/mcp-python/server.py) on `port`, with extra tools; stopped when dropped.
async fn python_server(port: u16, extra_tools: &[&str]) -> Child {
    let python = std::env::var("TEST_MCP_PYTHON").expect(
        "TEST_MCP_PYTHON names the MCP Python SDK's python: scripts/test.sh sets it (scripts/mcp-sdk.sh)",
    );
    let mut command = Command::new(python);
    command.arg(workspace().join("testkit/mcp-python/server.py")).arg("--port").arg(port.to_string());
    for tool in extra_tools {
        command.arg("--extra-tool").arg(tool);
    }
    let child = command.kill_on_drop(true).spawn().unwrap();
    until_up(port, "the Python MCP server").await;
    child
}

/// The reference server on Node (scripts/mcp-everything.sh), Streamable HTTP with sessions; stopped when
/// dropped.
async fn everything_server(port: u16) -> Child {
    let child = Command::new(workspace().join("scripts/mcp-everything.sh"))
        .args(["streamableHttp", &port.to_string()])
        .kill_on_drop(true)
        .spawn()
        .expect("scripts/mcp-everything.sh runs the reference server (scripts/test.sh installs Node and it)");
    until_up(port, "the reference MCP server").await;
    child
}

fn probing(registry: &str, source: Source, probe: ProbePolicy) -> RegistryConfig {
    RegistryConfig {
        source,
        sync_interval: Some(Duration::from_secs(3600)),
        probe,
        ..file_registry(registry)
    }
}

fn remote(server_name: &str, kind: &str, url: &str) -> Value {
    json!({"name": server_name, "description": "probed", "version": "1.0.0", "remotes": [{"type": kind, "url": url}]})
}

/// The latest results of `registry`, once there are `count` of them.
async fn until_probed(store: &Store, registry: &str, count: usize) -> Vec<StoredProbe> {
    let filter = ProbeFilter { registry: Some(name(registry)), outcome: None };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let found = store.list_probes(&filter, None, 100).await.unwrap();
        if found.len() >= count {
            return found;
        }
        assert!(Instant::now() < deadline, "{} of {count} remotes probed: {found:#?}", found.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

on_both_backends! {
    async fn a_worker_probes_real_servers_records_their_tools_and_sees_a_tool_added(test: &TestStore) {
        let (python_port, everything_port) = (free_port(), free_port());
        let python = python_server(python_port, &[]).await;
        let _everything = everything_server(everything_port).await;
        let dir = tempfile::tempdir().unwrap();
        let catalogue = dir.path().join("registry.json");
        let servers = json!([
            remote("io.example/python", "streamable-http", &format!("http://127.0.0.1:{python_port}/mcp")),
            remote("io.example/everything", "streamable-http", &format!("http://127.0.0.1:{everything_port}/mcp")),
            remote("io.example/everything-sse", "sse", "http://127.0.0.1:9/sse"),
            {"name": "io.example/packaged", "description": "a package only", "version": "1.0.0",
             "packages": [{"registryType": "npm", "identifier": "packaged", "version": "1.0.0", "transport": {"type": "stdio"}}]},
        ]);
        std::fs::write(&catalogue, servers.to_string()).unwrap();
        // Loopback is a private address: these servers need allowPrivateIP.
        let policy = ProbePolicy { enabled: true, allow_private_ip: true, ..ProbePolicy::default() };
        let registry = probing("probed", Source::File(FileSource::Path(catalogue)), policy);
        let mut config = test_config(test.config.clone(), vec![registry]);
        config.worker.data_dir = dir.path().to_owned();
        test.store.apply_registries(&config.registries).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let worker = tokio::spawn(registry_worker::run(config, async move { stopped.await.ok(); }));

        let found = until_probed(&test.store, "probed", 4).await;
        let by_name = |server: &str| found.iter().find(|p| p.name == server).unwrap().result.clone();
        let python_result = by_name("io.example/python");
        assert_eq!(python_result.outcome, Outcome::Ok, "{python_result:?}");
        assert_eq!(python_result.protocol_version.as_deref(), Some("2026-07-28"));
        let everything = by_name("io.example/everything");
        assert_eq!(everything.outcome, Outcome::Ok, "{everything:?}");
        assert_eq!(everything.protocol_version.as_deref(), Some("2025-11-25"), "a legacy server, through initialize");
        assert_eq!(by_name("io.example/everything-sse").outcome, Outcome::UnsupportedTransport);
        assert_eq!(by_name("io.example/packaged").outcome, Outcome::NotProbed);

        let report = test.store.probe_report(&name("probed"), "io.example/python", "1.0.0").await.unwrap();
        let latest = &report[0].latest;
        assert_eq!(latest.result.tools.as_ref().unwrap().names(), ["add", "echo"]);
        assert_eq!(latest.result.server_info.as_ref().unwrap()["name"], "registry-test-python");
        let report = test.store.probe_report(&name("probed"), "io.example/everything", "1.0.0").await.unwrap();
        let tools = report[0].latest.result.tools.as_ref().unwrap().names();
        assert!(tools.len() >= 10 && tools.contains(&"echo"), "the reference server's tools: {tools:?}");
        assert!(report[0].latest.result.capabilities.as_ref().unwrap().get("tools").is_some());

        // The Python server comes back with one more tool; a pass asked for now sees the change.
        drop(python);
        let _python = python_server(python_port, &["delete_everything"]).await;
        let again = ProbeRegistry::new(name("probed"), ProbeScope::All, Trigger::Manual);
        test.store.enqueue_probe(&again, None).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let changes = loop {
            let report = test.store.probe_report(&name("probed"), "io.example/python", "1.0.0").await.unwrap();
            if let Some(change) = report[0].changes.first() {
                break change.changes.clone();
            }
            assert!(Instant::now() < deadline, "no tool change seen: {report:#?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!((changes.added, changes.removed, changes.changed), (vec!["delete_everything".to_owned()], vec![], vec![]));
        stop.send(()).unwrap();
        worker.await.unwrap().unwrap();
    }
}

/// The most requests in flight at once, per `Host` and in all, at a stand-in that answers slowly.
#[derive(Default)]
struct InFlight {
    now: HashMap<String, usize>,
    most: HashMap<String, usize>,
    total: usize,
    most_total: usize,
    requests: usize,
}

#[tokio::test]
async fn a_pass_keeps_to_the_per_host_and_per_worker_bounds() {
    let test = TestStore::sqlite().await;
    let seen = Arc::new(std::sync::Mutex::new(InFlight::default()));
    let counted = seen.clone();
    let stand_in = serve(Router::new().fallback(any(move |headers: axum::http::HeaderMap| {
        let seen = counted.clone();
        async move {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .split(':')
                .next()
                .unwrap_or("")
                .to_owned();
            {
                let mut seen = seen.lock().unwrap();
                seen.requests += 1;
                seen.total += 1;
                seen.most_total = seen.most_total.max(seen.total);
                let now = seen.now.entry(host.clone()).or_default();
                *now += 1;
                let now = *now;
                let most = seen.most.entry(host.clone()).or_default();
                *most = (*most).max(now);
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
            let mut seen = seen.lock().unwrap();
            seen.total -= 1;
            *seen.now.get_mut(&host).unwrap() -= 1;
            StatusCode::SERVICE_UNAVAILABLE
        }
    })))
    .await;
    // 50 remotes: half on 127.0.0.1, half on a name the injected table points at the same stand-in.
    let servers: Vec<Value> = (0..50)
        .map(|i| {
            let host = if i % 2 == 0 { "127.0.0.1".to_owned() } else { "probe-target.test".to_owned() };
            remote(
                &format!("io.example/remote-{i:02}"),
                "streamable-http",
                &format!("http://{host}:{}/mcp/{i}", stand_in.port()),
            )
        })
        .collect();
    let entries = servers
        .into_iter()
        .map(|server| registry_core::formats::Entry {
            server: registry_core::model::ServerJson::from_value(server).unwrap(),
            origin: None,
        })
        .collect();
    let policy = ProbePolicy {
        enabled: true,
        allow_private_ip: true,
        per_host_concurrency: 2,
        ..ProbePolicy::default()
    };
    let registry = probing("crowded", Source::File(FileSource::Path("crowded.json".into())), policy);
    test.store.apply_registries(&[registry]).await.unwrap();
    test.store.write_snapshot(&name("crowded"), entries).await.unwrap();
    let hosts: HostTable = Arc::new(HashMap::from([(
        "probe-target.test".to_owned(),
        vec![SocketAddr::new(IpAddr::from([127, 0, 0, 1]), stand_in.port())],
    )]));

    let prober = Prober::new(test.store.clone(), 3, hosts);
    let summary =
        prober.pass(&ProbeRegistry::new(name("crowded"), ProbeScope::All, Trigger::Manual)).await.unwrap();

    assert_eq!((summary.probed, summary.unrecorded), (50, 0));
    {
        let seen = seen.lock().unwrap();
        assert!(seen.requests >= 50, "every remote was asked: {}", seen.requests);
        assert_eq!(seen.most.get("127.0.0.1"), Some(&2), "per host: {:?}", seen.most);
        assert_eq!(seen.most.get("probe-target.test"), Some(&2), "per host: {:?}", seen.most);
        assert_eq!(seen.most_total, 3, "per worker");
    }
    let failed = test
        .store
        .list_probes(
            &ProbeFilter { registry: Some(name("crowded")), outcome: Some(Outcome::HttpError) },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 50);
    assert!(failed.iter().all(|p| p.result.http_status == Some(503)));
    test.cleanup().await;
}
