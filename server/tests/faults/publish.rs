//! Publishing through an API process that is killed mid-flight: what was acknowledged stays, and clients
//! that retry get 200 for what the lost answers had stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use registry_testkit::PostgresDatabase;

use crate::support::*;

const DOCUMENTS: usize = 120;

fn document(i: usize) -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": format!("io.example/tool-{i:03}"),
        "description": format!("tool {i}"),
        "version": "1.0.0",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_in_a_publish_loop_every_acknowledged_publish_is_stored_and_retries_answer_200() {
    let database = PostgresDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "api.yaml",
        &format!(
            "registries:\n  - {{name: internal, managed: {{}}}}\nauth: {{mode: anonymous}}\ndatabase: {{url: '{}'}}\n",
            database.url
        ),
    );
    admin(&["migrate"], &config);
    let port = registry_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut api = spawn_api_on(&config, dir.path(), port, &[], &[]);
    until_ready(&base).await;

    // Eight clients publish; the API is killed (SIGKILL) once 40 publishes have been acknowledged.
    let answers: Arc<Mutex<HashMap<usize, Result<u16, String>>>> = Arc::default();
    let publishers: Vec<_> = (0..8)
        .map(|client_no| {
            let (answers, base) = (answers.clone(), base.clone());
            tokio::spawn(async move {
                for i in (client_no..DOCUMENTS).step_by(8) {
                    let sent = client().post(format!("{base}/v0.1/publish")).json(&document(i)).send().await;
                    let answer = sent.map(|r| r.status().as_u16()).map_err(|e| e.to_string());
                    answers.lock().unwrap().insert(i, answer);
                }
            })
        })
        .collect();
    until("40 acknowledged publishes", Duration::from_secs(60), || async {
        answers.lock().unwrap().values().filter(|a| a.is_ok()).count() >= 40
    })
    .await;
    api.kill();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let before: HashMap<usize, Result<u16, String>> = answers.lock().unwrap().clone();
    let acknowledged: Vec<usize> =
        before.iter().filter(|(_, a)| matches!(a, Ok(201))).map(|(i, _)| *i).collect();
    let lost = before.values().filter(|a| a.is_err()).count();

    let _api = spawn_api_on(&config, dir.path(), port, &[], &[]);
    until_ready(&base).await;
    let mut retried = HashMap::new();
    for i in 0..DOCUMENTS {
        let status =
            client().post(format!("{base}/v0.1/publish")).json(&document(i)).send().await.unwrap().status();
        retried.insert(i, status.as_u16());
    }
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(database.url.as_str()).await.unwrap();
    let stored: i64 =
        sqlx::query_scalar("select count(*) from server_version").fetch_one(&mut db).await.unwrap();
    drop(db);

    eprintln!(
        "kill -9 in a publish loop: {} acknowledged before the kill, {lost} answers lost",
        acknowledged.len()
    );
    assert!(before.values().all(|a| matches!(a, Ok(201) | Err(_))), "before the kill: {before:?}");
    for i in &acknowledged {
        assert_eq!(retried[i], 200, "document {i} was acknowledged, so its retry finds it stored");
    }
    assert!(retried.values().all(|s| *s == 200 || *s == 201), "no 409 and no 5xx on retry: {retried:?}");
    assert_eq!(stored, DOCUMENTS as i64, "each document stored once");
    database.drop_now().await;
}
