//! The API while its database is down, slow or locked.

use std::time::{Duration, Instant};

use registry_store::Store;
use registry_testkit::{PrivatePostgres, entry, name};
use reqwest::StatusCode;

use crate::support::*;

/// `GET base+path`: status, Retry-After, content type, body, and how long the answer took.
pub async fn timed_get(base: &str, path: &str) -> (u16, Option<String>, String, String, Duration) {
    let started = Instant::now();
    let response = client().get(format!("{base}{path}")).send().await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (status, retry_after, content_type) =
        (response.status().as_u16(), header("retry-after"), header("content-type").unwrap_or_default());
    let body = response.text().await.unwrap();
    (status, retry_after, content_type, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_the_api_answers_503_fast_and_recovers_when_it_returns() {
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "api.yaml",
        &format!(
            "registries:\n  - {{name: files, file: {{path: x.json}}, syncPolicy: {{interval: 1h}}}}\n\
             auth: {{mode: anonymous}}\ndatabase: {{url: '{}', acquireTimeout: 2s}}\n",
            pg.url
        ),
    );
    admin(&["migrate"], &config);
    let store = Store::connect(&pg.storage()).await.unwrap();
    store.write_snapshot(&name("files"), vec![entry("io.example/tool", "1.0.0")]).await.unwrap();
    let (api, base) = spawn_api(&config, dir.path(), &[]);
    until_ready(&base).await;
    let served = client().get(format!("{base}/v0.1/servers")).send().await.unwrap();
    let etag = served.headers()["etag"].clone();

    pg.stop();
    let revalidated =
        client().get(format!("{base}/v0.1/servers")).header("if-none-match", etag).send().await.unwrap();
    let cached = client().get(format!("{base}/v0.1/servers")).send().await.unwrap();
    let read = timed_get(&base, "/v0.1/servers?limit=7").await;
    let ready = timed_get(&base, "/readiness").await;
    let one = timed_get(&base, "/v0.1/servers/io.example%2Ftool/versions/latest").await;
    pg.start_again();
    let returned = Instant::now();
    let recovered = until("reads after the return", Duration::from_secs(30), || async {
        client().get(format!("{base}/v0.1/servers")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;

    eprintln!(
        "database down: list 503 in {:?}, readiness 503 in {:?}; reads served again {recovered:?} after the return",
        read.4, ready.4
    );
    for (status, retry_after, content_type, body, took) in [&read, &one] {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(retry_after.as_deref(), Some("5"));
        assert_eq!(content_type, "application/problem+json");
        assert!(body.contains("the database is not reachable right now"), "{body}");
        assert!(
            !body.contains("refused") && !body.contains("os error") && !body.contains("pool"),
            "no raw error: {body}"
        );
        assert!(*took < Duration::from_millis(2900), "within database.acquireTimeout (2s): {took:?}");
    }
    assert_eq!(revalidated.status(), 304, "a current ETag is answered without the database");
    assert_eq!(
        (cached.status(), cached.headers()["x-cache"].to_str().unwrap()),
        (StatusCode::OK, "hit-memory"),
        "a kept page too"
    );
    assert_eq!(ready.0, 503, "{}", ready.3);
    assert!(ready.4 < Duration::from_millis(1500), "readiness answers within 1 s: {:?}", ready.4);
    assert!(!ready.3.contains("refused") && !ready.3.contains("os error"), "no raw error: {}", ready.3);
    assert!(returned.elapsed() < Duration::from_secs(30));
    drop(api);
}
