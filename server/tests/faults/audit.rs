//! The audit file as logrotate treats it: moved away, then SIGHUP, and the API writes to a new file at the
//! same path; `registry-admin` appends to the same file, with the operating system user as the subject.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

async fn publish(base: &str, version: &str) -> u16 {
    let document = serde_json::json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "io.example/tool",
        "description": "a tool",
        "version": version,
    });
    client().post(format!("{base}/v0.1/publish")).json(&document).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn after_logrotate_moves_the_audit_file_sighup_reopens_it_and_admin_writes_land_there_too() {
    let dir = tempfile::tempdir().unwrap();
    let (file, rotated) = (dir.path().join("audit.jsonl"), dir.path().join("audit.jsonl.1"));
    let config = write_config(
        dir.path(),
        "api.yaml",
        &format!(
            "registries:\n  - {{name: internal, managed: {{}}}}\nauth: {{mode: anonymous}}\n\
             database: {{path: '{}'}}\naudit: {{file: '{}'}}\n",
            dir.path().join("registry.db").display(),
            file.display()
        ),
    );
    let (mut api, base) = spawn_api(&config, dir.path(), &[]);
    until_ready(&base).await;

    assert_eq!(publish(&base, "1.0.0").await, 201);
    until("the first event is written", Duration::from_secs(10), || async { events(&file).len() == 1 }).await;
    std::fs::rename(&file, &rotated).unwrap();
    let hangup = Command::new("kill").args(["-HUP", &api.pid().to_string()]).status().unwrap();
    assert!(hangup.success());
    until("the audit file is reopened", Duration::from_secs(10), || async { file.exists() }).await;
    assert_eq!(publish(&base, "2.0.0").await, 201);
    let server_json = dir.path().join("server.json");
    std::fs::write(
        &server_json,
        r#"{"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
            "name": "io.example/tool", "description": "a tool", "version": "3.0.0"}"#,
    )
    .unwrap();
    admin(&["publish", "--registry", "internal", server_json.to_str().unwrap()], &config);
    until("both later events are written", Duration::from_secs(10), || async { events(&file).len() == 2 })
        .await;

    let versions = |events: Vec<Value>| -> Vec<String> {
        events.iter().map(|e| e["version"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(versions(events(&rotated)), ["1.0.0"], "the moved file keeps what was written before");
    let written = events(&file);
    assert_eq!(versions(written.clone()), ["2.0.0", "3.0.0"]);
    let logs = api.logs();
    assert!(logs.contains("SIGHUP: reopening the audit file"));
    let logged =
        logs.lines().filter(|line| line.contains(" audit: audit ") && line.contains("action=\"publish\""));
    assert_eq!(logged.count(), 2, "the API's events are in its log under target audit:\n{logs}");
    let by_admin = &written[1];
    assert_eq!(
        (by_admin["provider"].as_str(), by_admin["action"].as_str()),
        (Some("registry-admin"), Some("publish"))
    );
    let user = Command::new("id").arg("-un").output().unwrap().stdout;
    assert_eq!(by_admin["subject"].as_str(), Some(String::from_utf8(user).unwrap().trim()));
    assert_eq!(by_admin["outcome"], "success");
    assert!(api.is_running(), "SIGHUP does not stop the API");
}
