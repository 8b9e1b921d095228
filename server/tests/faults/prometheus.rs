//! The dashboard and the alert rules in `charts/mcp-registry`, against a real Prometheus (Debian's binary,
//! which `scripts/test.sh` installs) scraping the scaled-out shape of `scripts/cluster.sh`: every panel's
//! query, read from the dashboard file itself, returns a series with a value, and every alert rule
//! evaluates without error and fires nothing on a healthy system. Firing is `promtool test rules`' part.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::support::*;

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("charts/mcp-registry")
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(chart().join("dashboards/mcp-registry.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every query of the dashboard: (panel title, expression).
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    let panels = dashboard["panels"].as_array().unwrap();
    let with_targets = panels.iter().filter(|p| p["type"] != "row");
    with_targets
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap().to_owned();
            let targets = panel["targets"].as_array().unwrap().clone();
            targets.into_iter().map(move |t| (title.clone(), t["expr"].as_str().unwrap().to_owned()))
        })
        .collect()
}

/// The alert rules of the rule file: (name, expression).
fn alert_rules() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(chart().join("rules/alerts.yaml")).unwrap();
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let groups = rules["groups"].as_sequence().unwrap();
    let rules = groups.iter().flat_map(|g| g["rules"].as_sequence().unwrap().clone());
    rules.map(|r| (r["alert"].as_str().unwrap().to_owned(), r["expr"].as_str().unwrap().to_owned())).collect()
}

fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(chart().join("rules"))
        .output()
        .expect("promtool is installed (scripts/test.sh installs Debian's prometheus package)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn the_dashboard_has_unique_panel_ids_a_datasource_variable_and_a_query_in_every_panel() {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"),
        "a Prometheus datasource variable: {variables:?}"
    );
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids: Vec<_> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "panel ids are unique");
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap();
        assert!(panel["gridPos"]["w"].as_u64().is_some(), "{title} has a place");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title} reads the chosen datasource");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has a query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            assert!(!target["expr"].as_str().unwrap().trim().is_empty(), "{title}");
        }
    }
    // What the issue asks the dashboard to show.
    let queries = panel_queries(&dashboard).into_iter().map(|(_, e)| e).collect::<Vec<_>>().join("\n");
    for series in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "page_cache_lookups_total",
        "sync_last_success_timestamp_seconds",
        "sync_runs_total",
        "sync_duration_seconds_bucket",
        "sync_queue_jobs",
        "sync_queue_oldest_pending_age_seconds",
        "db_pool_connections",
        "mcp_requests_total",
        "mcp_request_duration_seconds_bucket",
        "probe_remotes",
        "probe_runs_total",
        "probe_duration_seconds_bucket",
        "probe_tool_list_changes_total",
        "probe_queue_jobs",
        "rate_limited_requests_total",
        "rate_limit_backend",
    ] {
        assert!(queries.contains(series), "no panel reads {series}");
    }
}

#[test]
fn the_alert_rules_pass_promtool_check_and_its_unit_tests_of_firing() {
    let checked = promtool(&["check", "rules", "alerts.yaml"]);
    assert!(checked.contains(&format!("SUCCESS: {} rules found", alert_rules().len())), "{checked}");
    let tested = promtool(&["test", "rules", "alerts.test.yaml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// A Prometheus on loopback scraping the cluster's three internal listeners every second, with the rules.
fn start_prometheus(cluster: &Cluster) -> (Process, String) {
    let dir = cluster.dir.path();
    let target = |variable: &str| cluster.get(variable).trim_start_matches("http://").to_owned();
    let config = json!({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [chart().join("rules/alerts.yaml")],
        "scrape_configs": [
            {"job_name": "mcp-registry-api", "static_configs": [{"targets": [
                target("API_A_INTERNAL_URL"), target("API_B_INTERNAL_URL")]}]},
            {"job_name": "mcp-registry-worker", "static_configs": [{"targets": [target("WORKER_INTERNAL_URL")]}]},
        ],
    });
    let path = write_config(dir, "prometheus.yml", &config.to_string());
    let port = registry_testkit::free_port();
    let mut command = Command::new("prometheus");
    command.args([
        format!("--config.file={}", path.display()),
        format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--log.level=warn".to_owned(),
    ]);
    (Process::spawn_with(&mut command, dir, "prometheus"), format!("http://127.0.0.1:{port}"))
}

async fn api(prometheus: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let url = url::Url::parse_with_params(&format!("{prometheus}{path}"), query).unwrap();
    let response = client().get(url).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success", "{path} {query:?}: {body}");
    body["data"].clone()
}

/// The instant result of `expr`, with the dashboard's interval variable set as Grafana would.
async fn evaluate(prometheus: &str, expr: &str) -> Vec<Value> {
    let expr = expr.replace("$__rate_interval", "30s");
    assert!(!expr.contains('$'), "a variable the test does not set: {expr}");
    let data = api(prometheus, "/api/v1/query", &[("query", &expr)]).await;
    data["result"].as_array().unwrap().clone()
}

/// The series an expression reads: its identifiers with an underscore, PromQL's functions and Grafana's
/// variables aside.
fn series_names(expr: &str) -> Vec<String> {
    let words = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    let series = words.filter(|w| {
        w.contains('_') && !w.starts_with('_') && w.starts_with(|c: char| c.is_ascii_lowercase())
    });
    series.filter(|w| !["histogram_quantile", "max_over_time"].contains(w)).map(str::to_owned).collect()
}

fn has_a_value(result: &[Value]) -> bool {
    let value = |sample: &Value| sample["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
    result.iter().any(|sample| value(sample).is_some_and(f64::is_finite))
}

/// Reads through the load balancer: lists, a search, a version, a route that does not exist, and a search
/// over MCP.
async fn read_traffic(lb: &str) {
    for path in [
        "/v0.1/servers",
        "/v0.1/servers?search=tool",
        "/v0.1/servers/io.example%2Ftool-0/versions/latest",
        "/no/such/route",
    ] {
        client().get(format!("{lb}{path}")).send().await.unwrap();
    }
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "search_servers", "arguments": {"query": "tool"}}});
    let mcp = (client().post(format!("{lb}/mcp")))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(call.to_string());
    assert_eq!(mcp.send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_gets_data_for_every_panel_and_no_alert_from_a_healthy_cluster() {
    let cluster = Cluster::up();
    let (_prometheus, prometheus) = start_prometheus(&cluster);
    until("Prometheus is ready", Duration::from_secs(30), || async {
        client().get(format!("{prometheus}/-/ready")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    until("Prometheus has scraped all three processes", Duration::from_secs(30), || async {
        evaluate(&prometheus, "up == 1").await.len() == 3
    })
    .await;
    // The prober's series: probing turned on, as an operator does, for `files`, whose servers have no
    // remotes, so each is recorded as notProbed and nothing is contacted.
    let config = std::fs::read_to_string(cluster.config()).unwrap();
    let probed = config
        .replace("syncPolicy: {interval: 1h}\n", "syncPolicy: {interval: 1h}\n    probe: {enabled: true}\n");
    assert_ne!(probed, config, "the cluster's files registry is where the test expects it");
    std::fs::write(cluster.config(), probed).unwrap();
    admin(&["migrate"], &cluster.config());
    // A sync while Prometheus watches, so that the sync panels' rates have something to show.
    let catalogue = catalogue(cluster.dir.path(), 3);
    std::fs::rename(catalogue, cluster.get("FILE_SOURCE")).unwrap();
    admin(&["enqueue-sync", "files"], &cluster.config());
    let lb = cluster.get("LB_URL");

    let queries = panel_queries(&dashboard());
    let deadline = Instant::now() + Duration::from_secs(90);
    let empty = loop {
        read_traffic(lb).await;
        let mut empty = Vec::new();
        for (title, expr) in &queries {
            if !has_a_value(&evaluate(&prometheus, expr).await) {
                empty.push(format!("{title}: {expr}"));
            }
        }
        if empty.is_empty() || Instant::now() > deadline {
            break empty;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(empty.is_empty(), "panels without data after 90 s:\n{}", empty.join("\n"));
    // A fallback (`or vector(0)`) would hide a misspelt series: every series a panel or an alert reads is one
    // the processes export, but the retries, which a retry creates, and the probe durations and tool changes,
    // which a probe that contacts a remote creates (the probed registry here has no remotes).
    let exported = api(&prometheus, "/api/v1/label/__name__/values", &[]).await;
    let exported: Vec<&str> = exported.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let read = queries.iter().map(|(_, e)| e.clone()).chain(alert_rules().into_iter().map(|(_, e)| e));
    let mut unknown: Vec<String> =
        read.flat_map(|expr| series_names(&expr)).filter(|s| !exported.contains(&s.as_str())).collect();
    unknown.sort();
    unknown.dedup();
    let created_later = [
        format!("{}_bucket", registry_runtime::metrics::PROBE_DURATION),
        registry_runtime::metrics::PROBE_TOOL_CHANGES.to_owned(),
        registry_runtime::metrics::SYNC_RETRIES.to_owned(),
    ];
    assert_eq!(unknown, created_later, "series no process exports");

    // Every alert expression evaluates; every rule is loaded, evaluated without error and inactive.
    let alerts = alert_rules();
    for (name, expr) in &alerts {
        let result = evaluate(&prometheus, expr).await;
        assert!(result.is_empty(), "{name} holds on a healthy cluster: {result:?}");
    }
    let started = chrono::Utc::now();
    let rules = loop {
        let data = api(&prometheus, "/api/v1/rules", &[("type", "alert")]).await;
        let rules: Vec<Value> = data["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .collect();
        let evaluated = |rule: &Value| {
            rule["lastEvaluation"]
                .as_str()
                .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                .is_some_and(|at| at > started)
        };
        if rules.len() == alerts.len() && rules.iter().all(evaluated) {
            break rules;
        }
        assert!(
            chrono::Utc::now() < started + chrono::Duration::seconds(30),
            "rules not evaluated: {rules:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for rule in &rules {
        assert_eq!(
            (rule["health"].as_str(), rule["lastError"].as_str().unwrap_or("")),
            (Some("ok"), ""),
            "{rule}"
        );
        assert_eq!(rule["state"], "inactive", "a healthy cluster fires nothing: {rule}");
    }
    let firing = api(&prometheus, "/api/v1/alerts", &[]).await;
    assert_eq!(firing["alerts"], json!([]), "no alert is pending or firing");
}
