//! The scaled-out shape, brought up by `scripts/cluster.sh` as an operator would: two API replicas behind
//! nginx, one worker, PostgreSQL and a Redis of the cluster's own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

pub struct Cluster {
    pub dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl Cluster {
    pub fn up() -> Self {
        let dir = tempfile::Builder::new().prefix("registry-cluster-").tempdir().unwrap();
        let output = script(&["up", &dir.path().display().to_string()]).output().unwrap();
        let logs = || {
            let logs = std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"));
            logs.map(|e| {
                format!("{}:\n{}", e.path().display(), std::fs::read_to_string(e.path()).unwrap_or_default())
            })
            .collect::<Vec<_>>()
            .join("\n")
        };
        assert!(
            output.status.success(),
            "cluster.sh up: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            logs()
        );
        let text = std::fs::read_to_string(dir.path().join("cluster.env")).unwrap();
        let env = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self { dir, env }
    }

    pub fn get(&self, key: &str) -> &str {
        &self.env[key]
    }

    pub fn config(&self) -> PathBuf {
        PathBuf::from(self.get("CONFIG"))
    }

    /// The page cache's keys in the cluster's Redis (the rate limits' keys, `cluster:rl:*`, aside).
    fn redis_keys(&self) -> Vec<String> {
        let output = Command::new("redis-cli")
            .args(["-u", self.get("REDIS_URL"), "--raw", "keys", "cluster:*"])
            .output()
            .unwrap();
        let keys = String::from_utf8_lossy(&output.stdout);
        keys.lines().filter(|l| !l.is_empty() && !l.starts_with("cluster:rl:")).map(str::to_owned).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        script(&["down", &self.dir.path().display().to_string()]).status().ok();
    }
}

/// `scripts/cluster.sh` with the binaries this test suite built.
fn script(args: &[&str]) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut command = Command::new(root.join("scripts/cluster.sh"));
    command.args(args).env("BIN_DIR", binary("registry-api").parent().unwrap());
    command
}

async fn body(base: &str, path: &str) -> (u16, String, serde_json::Value) {
    let response = client().get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    let cache = response.headers().get("x-cache").map_or("", |v| v.to_str().unwrap()).to_owned();
    (status, cache, response.json().await.unwrap_or_default())
}

fn names(list: &serde_json::Value) -> Vec<String> {
    let servers = list["servers"].as_array().cloned().unwrap_or_default();
    servers.iter().map(|s| s["server"]["name"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Polls `path` on `base` until its list names `server`; how long that took, and whether the first answer
/// had it already.
async fn until_listed(base: &str, path: &str, server: &str) -> (Duration, bool) {
    let started = Instant::now();
    let mut first = true;
    loop {
        let (_, _, list) = body(base, path).await;
        if names(&list).iter().any(|n| n == server) {
            return (started.elapsed(), first);
        }
        first = false;
        assert!(started.elapsed() < Duration::from_secs(10), "{server} is not listed by {base}{path}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scaled_out_shape_shares_writes_and_cache_and_loses_no_request_when_redis_dies() {
    let cluster = Cluster::up();
    let (a, b, lb) = (cluster.get("API_A_URL"), cluster.get("API_B_URL"), cluster.get("LB_URL"));
    let page = "/v0.1/servers?limit=100";

    // A publish through replica A, then a read through replica B whose cache holds the page.
    let mut seen_at_once = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..10 {
        body(b, page).await;
        let document =
            serde_json::to_value(registry_testkit::server(&format!("io.example/tool-{i}"), "1.0.0")).unwrap();
        let published = client().post(format!("{a}/v0.1/publish")).json(&document).send().await.unwrap();
        let status = published.status();
        assert_eq!(status, 201, "{}", published.text().await.unwrap_or_default());
        let (took, at_once) = until_listed(b, page, &format!("io.example/tool-{i}")).await;
        seen_at_once += usize::from(at_once);
        slowest = slowest.max(took);
    }

    // A sync written by the worker shows on both replicas, whose caches held the empty registry.
    let files = "/registry/files/v0.1/servers";
    let (before_a, before_b) = (body(a, files).await, body(b, files).await);
    std::fs::write(
        cluster.get("FILE_SOURCE"),
        r#"[{"name": "io.example/from-file", "description": "d", "version": "1.0.0"}]"#,
    )
    .unwrap();
    admin(&["enqueue-sync", "files"], &cluster.config());
    let (synced_a, _) = until_listed(a, files, "io.example/from-file").await;
    let (synced_b, _) = until_listed(b, files, "io.example/from-file").await;

    // A replica started cold is served from Redis: the page A renders now.
    let kept_before = cluster.redis_keys().len();
    let rendered = body(a, page).await;
    until("A's page is kept in Redis", Duration::from_secs(10), || async {
        cluster.redis_keys().len() > kept_before
    })
    .await;
    let (cold, cold_base) = spawn_api(&cluster.config(), cluster.dir.path(), &[]);
    until_ready(&cold_base).await;
    let from_redis = body(&cold_base, page).await;
    drop(cold);

    // Redis is killed while four clients read through the load balancer.
    let load = registry_testkit::ReadLoad::start(&client(), lb, 4, 150);
    load.until_answered(100).await;
    let killed = Command::new("kill").args(["-KILL", cluster.get("REDIS_PID")]).status().unwrap();
    let statuses = load.statuses().await;
    // The replicas say so on their internal listeners: at least one stopped calling Redis.
    let scrape = |variable: &str| {
        let url = format!("{}/metrics", cluster.get(variable));
        async move { client().get(url).send().await.unwrap().text().await.unwrap() }
    };
    let (metrics_a, metrics_b) = (scrape("API_A_INTERNAL_URL").await, scrape("API_B_INTERNAL_URL").await);
    let worker_metrics = scrape("WORKER_INTERNAL_URL").await;

    eprintln!(
        "B listed A's publish on its next request {seen_at_once} times of 10, at worst after {slowest:?}; \
         the worker's sync showed on A after {synced_a:?} and on B after {synced_b:?}"
    );
    // Notified at commit, B nearly always has the new generations before the next request reaches it.
    assert!(seen_at_once >= 5, "B listed A's publish on its next request only {seen_at_once} times of 10");
    assert!(slowest < Duration::from_secs(5), "within the poll interval, with room: {slowest:?}");
    assert!(names(&before_a.2).is_empty() && names(&before_b.2).is_empty());
    assert_eq!(rendered.1, "miss");
    assert_eq!(
        (from_redis.0, from_redis.1.as_str()),
        (200, "hit-redis"),
        "a cold replica is served from Redis"
    );
    assert_eq!(
        (names(&from_redis.2).len(), &from_redis.2),
        (11, &rendered.2),
        "ten publishes and the synced entry"
    );
    assert!(killed.success());
    assert_eq!(statuses.len(), 600);
    let failed: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(failed.is_empty(), "{} of 600 failed: {failed:?}", failed.len());
    assert!(
        [&metrics_a, &metrics_b].iter().any(|text| text.contains("page_cache_redis_circuit_open 1")),
        "no open circuit in:\n{metrics_a}\n{metrics_b}"
    );
    assert!(
        [&metrics_a, &metrics_b]
            .iter()
            .any(|text| text.contains("page_cache_lookups_total{tier=\"redis\",result=\"bypass\"}")),
        "no Redis bypass counted"
    );
    assert!(
        worker_metrics.contains("sync_runs_total{registry=\"files\",outcome=\"written\"} "),
        "{worker_metrics}"
    );
}
