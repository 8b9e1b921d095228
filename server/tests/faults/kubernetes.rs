//! Kubernetes discovery as an operator runs it on one machine: `registry-api serve` on the embedded SQLite
//! file (the worker, and so the watcher, inside the API process) against a fake cluster on loopback. The
//! entries are served, and both status views, the extension API and `registry-admin status`, show what the
//! discovery found: a forbidden namespace, a skipped object, a kind without its CRD.

use std::time::Duration;

use registry_testkit::kube_fake::{FakeApiServer, exported};
use serde_json::Value;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_server_discovers_a_cluster_and_both_status_views_say_what_it_found() {
    let fake = FakeApiServer::start().await;
    fake.apply(exported("MCPServer", "tools", "weather", "http://weather.tools.svc.cluster.local:8080/mcp"));
    fake.apply(exported("MCPServer", "tools", "broken", "weather.example.com"));
    fake.apply(exported("MCPServer", "team-b", "search", "https://search.example.com/mcp"));
    fake.forbid("team-b");
    fake.uninstall("VirtualMCPServer");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig);
    let config = write_config(
        dir.path(),
        "registry.yaml",
        &format!(
            "registries:\n  - name: cluster\n    kubernetes: {{namespaces: [tools, team-b], kubeconfig: '{}'}}\n\
             auth: {{mode: anonymous}}\ndatabase: {{path: '{}'}}\nworker: {{dataDir: '{}'}}\n",
            kubeconfig.display(),
            dir.path().join("registry.db").display(),
            dir.path().display()
        ),
    );
    let (_api, base, internal) = spawn_with_internal("registry-api", &config, dir.path());
    until_ready(&base).await;
    let server = format!("{base}/v0.1/servers/com.toolhive.k8s.tools%2Fweather/versions/latest");
    until("the discovered server is served", Duration::from_secs(30), || async {
        client().get(&server).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    let registry_url = format!("{base}/extension/v0/registries/cluster");
    let watching = || async {
        let body: Value = client().get(&registry_url).send().await.unwrap().json().await.unwrap();
        body["kubernetes"]["watcher"]["state"] == "watching"
    };
    until("the watcher state is shown", Duration::from_secs(30), watching).await;

    let body: Value = client().get(&registry_url).send().await.unwrap().json().await.unwrap();
    let kubernetes = &body["kubernetes"];
    assert_eq!(kubernetes["stale"], false);
    assert_eq!(kubernetes["staleAfter"], "30m");
    let discovery = &kubernetes["discovery"];
    assert_eq!(discovery["served"], 1);
    assert_eq!(discovery["skipped"][0]["object"], "MCPServer tools/broken");
    assert_eq!(
        discovery["failed"].as_array().unwrap().len(),
        3,
        "each kind in team-b, forbidden: {discovery}"
    );
    assert!(discovery["failed"][0]["error"].as_str().unwrap().starts_with("403 Forbidden"), "{discovery}");
    assert!(kubernetes["watcher"]["holder"].as_str().unwrap().starts_with("registry-worker-"));
    assert_eq!(body["syncStatus"]["serverCount"], 1);

    let table = admin(&["status"], &config);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].starts_with("cluster   kubernetes  complete"), "{table}");
    assert!(
        table.contains(": MCPServer in team-b: 403 Forbidden: mcpservers.toolhive.stacklok.dev is forbidden"),
        "{table}"
    );
    for expected in [
        "cluster (kubernetes)",
        "  watcher: watching by registry-worker-",
        "  discovery at ",
        "  failed since ",
        "  not installed: VirtualMCPServer in tools",
        "  skipped: MCPServer tools/broken: registry-url \"weather.example.com\" is not an absolute http(s) URL",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "no line starting {expected:?} in:\n{table}"
        );
    }
    let metrics = client().get(format!("{internal}/metrics")).send().await.unwrap().text().await.unwrap();
    for series in [
        "kubernetes_watcher_up{registry=\"cluster\"} 1",
        "kubernetes_watch_events_total{registry=\"cluster\",changed=\"true\"} ",
        "sync_runs_total{registry=\"cluster\",outcome=\"written\"} 1",
    ] {
        assert!(metrics.contains(series), "no {series:?} in:\n{metrics}");
    }
    let json: Value = serde_json::from_str(&admin(&["status", "--output", "json"], &config)).unwrap();
    assert_eq!(json[0]["stale"], false);
    assert_eq!(json[0]["discovery"]["served"], 1);
}
