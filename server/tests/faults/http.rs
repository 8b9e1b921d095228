//! The HTTP server under connection floods, slow requests and shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::api::timed_get;
use crate::support::*;

/// A `registry-api` on a SQLite file of its own with these `server` and `shutdown` settings, run through
/// `wrapper` (e.g. `prlimit`) when given; its base URL once it answers `/readiness`.
async fn start_api(
    dir: &std::path::Path,
    server: &str,
    shutdown: &str,
    wrapper: &[&str],
) -> (Process, String) {
    let config = write_config(
        dir,
        "api.yaml",
        &format!(
            "registries:\n  - {{name: internal, managed: {{}}}}\nauth: {{mode: anonymous}}\n\
             database: {{path: '{}'}}\nserver: {{{server}}}\nshutdown: {{{shutdown}}}\n",
            dir.join("registry.db").display()
        ),
    );
    let port = registry_testkit::free_port();
    let process = spawn_api_on(&config, dir, port, &[], wrapper);
    let base = format!("http://127.0.0.1:{port}");
    until_ready(&base).await;
    (process, base)
}

/// Opens `count` connections that send half a request head and then nothing.
fn half_open(base: &str, count: usize) -> Vec<TcpStream> {
    let address = base.trim_start_matches("http://");
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(b"GET /v0.1/servers HTTP/1.1\r\nHost: registry\r\n").unwrap();
            stream
        })
        .collect()
}

/// How many of `streams` the server has closed (a read sees the end of the stream or a reset).
fn closed(streams: &mut [TcpStream]) -> usize {
    streams
        .iter_mut()
        .map(|stream| {
            stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut byte = [0u8; 1];
            match stream.read(&mut byte) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            }
        })
        .filter(|closed| *closed)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_half_open_connections_give_way_and_probes_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (api, base) = start_api(dir.path(), "maxConnections: 50, headerReadTimeout: 2s", "", &[]).await;

    let mut flood = half_open(&base, 100);
    let health = timed_get(&base, "/health").await;
    let ready = timed_get(&base, "/readiness").await;
    let servers = timed_get(&base, "/v0.1/servers").await;
    let evicted = closed(&mut flood);
    tokio::time::sleep(Duration::from_millis(2600)).await; // past the header timeout of the survivors
    let all_closed = closed(&mut flood);

    eprintln!(
        "100 half-open connections at a limit of 50: {evicted} closed at once to admit others, {all_closed} after the 2 s header timeout; /health in {:?}",
        health.4
    );
    for (status, .., took) in [&health, &ready, &servers] {
        assert_eq!(*status, 200, "{}", api.logs());
        assert!(*took < Duration::from_secs(1), "{took:?}");
    }
    assert!(evicted >= 50, "the oldest half-open connections gave way: {evicted}");
    assert_eq!(all_closed, 100, "every half-open connection is gone after the header timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_1024_descriptor_limit_1100_half_open_connections_cannot_lock_clients_out() {
    // This test's own sockets need more than 1,024 descriptors.
    rlimit::increase_nofile_limit(4096).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wrapper = ["prlimit", "--nofile=1024:1024", "--"];
    let (api, base) = start_api(dir.path(), "headerReadTimeout: 3s", "", &wrapper).await;

    let started = Instant::now();
    let mut flood = half_open(&base, 1100);
    let opened = started.elapsed();
    let during = timed_get(&base, "/v0.1/servers").await;
    let health = timed_get(&base, "/health").await;
    tokio::time::sleep(Duration::from_millis(3600)).await; // past the header timeout
    let gone = closed(&mut flood);
    let after = timed_get(&base, "/v0.1/servers").await;

    eprintln!(
        "1100 half-open connections under 1024 descriptors, opened in {opened:?}: a read answered in {:?}, /health in {:?}; {gone} closed after the header timeout",
        during.4, health.4
    );
    assert_eq!((during.0, health.0, after.0), (200, 200, 200), "{}", api.logs());
    assert_eq!(gone, 1100);
    assert!(!api.logs().contains("Too many open files"), "{}", api.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_request_timeout_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let (api, base) = start_api(dir.path(), "requestTimeout: 500ms", "", &[]).await;
    // Another process holds SQLite's write lock, so a publish waits for it.
    let mut lock = std::process::Command::new("python3")
        .args(["-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('begin immediate'); print('locked', flush=True); time.sleep(30)"])
        .arg(dir.path().join("registry.db"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = [0u8; 6];
    lock.stdout.as_mut().unwrap().read_exact(&mut line).unwrap();

    let started = Instant::now();
    let client = client();
    let body = serde_json::json!({"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json", "name": "io.example/slow", "description": "d", "version": "1.0.0"});
    let reply = client.post(format!("{base}/v0.1/publish")).json(&body).send().await.unwrap();
    let took = started.elapsed();
    let (status, retry_after) = (reply.status().as_u16(), reply.headers().get("retry-after").cloned());
    let problem: serde_json::Value = reply.json().await.unwrap();
    lock.kill().ok();
    lock.wait().ok();

    eprintln!("a publish stuck behind SQLite's write lock: 503 after {took:?} (requestTimeout 500ms)");

    assert_eq!(status, 503, "{problem}\n{}", api.logs());
    assert_eq!(retry_after.unwrap(), "5");
    assert!(problem["detail"].as_str().unwrap().contains("server.requestTimeout (500ms)"), "{problem}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_readiness_turns_503_at_once_and_requests_are_served_through_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let (mut api, base) = start_api(dir.path(), "", "drain: 2s, grace: 5s", &[]).await;

    api.terminate();
    let signalled = Instant::now();
    let ready = timed_get(&base, "/readiness").await;
    let served = timed_get(&base, "/v0.1/servers").await;
    let exit = api.exit_within(Duration::from_secs(20));
    let stopped = signalled.elapsed();
    let refused = client().get(format!("{base}/health")).send().await;

    eprintln!("SIGTERM: readiness 503 after {:?}; exited after {stopped:?} (drain 2s)", ready.4);
    assert_eq!(ready.0, 503, "{}", ready.3);
    assert!(ready.3.contains("shutting down"), "{}", ready.3);
    assert_eq!(served.0, 200, "still serving while draining");
    assert_eq!(exit, Some(Some(0)), "{}", api.logs());
    assert!(stopped >= Duration::from_secs(2) && stopped < Duration::from_secs(5), "{stopped:?}");
    assert!(refused.is_err(), "no longer accepting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_is_kept_between_requests_until_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_api, base) = start_api(dir.path(), "idleTimeout: 1500ms, headerReadTimeout: 10s", "", &[]).await;
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    let ask = |stream: &mut TcpStream| {
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: registry\r\n\r\n").unwrap();
        let mut answer = [0u8; 512];
        let read = stream.read(&mut answer).unwrap();
        String::from_utf8_lossy(&answer[..read]).into_owned()
    };

    let first = ask(&mut stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = ask(&mut stream);
    let open_soon = closed(std::slice::from_mut(&mut stream)) == 0;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let closed_later = closed(std::slice::from_mut(&mut stream)) == 1;

    assert!(first.starts_with("HTTP/1.1 200") && second.starts_with("HTTP/1.1 200"), "{first}\n{second}");
    assert!(open_soon, "kept alive between requests");
    assert!(closed_later, "closed once idle past server.idleTimeout");
}
