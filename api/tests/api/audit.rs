//! The audit trail as an operator ships it: `audit.file` holds one JSON line per write and per refusal, with
//! who, what, where and how it ended, and never a token.

use std::path::Path;
use std::time::{Duration, Instant};

use registry_runtime::config::{
    AuditConfig, AuthConfig, AuthzConfig, ClaimMatch, Config, NamespaceRule, Roles,
};
use registry_testkit::oidc::MockProvider;
use registry_testkit::*;
use serde_json::{Value, json};

use crate::auth::*;
use crate::helpers::*;

/// The first `count` events in `path`, waiting (up to 10 s) for the writer thread to append them.
pub fn events(path: &Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        if lines.len() >= count {
            return lines;
        }
        assert!(Instant::now() < deadline, "{count} audit events expected, found {}:\n{text}", lines.len());
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn audited_app(test: &TestStore, dir: &Path, auth: Option<AuthConfig>, proxies: &[&str]) -> TestApp {
    let mut config =
        test_config(test.config.clone(), vec![managed_registry("internal"), file_registry("files")]);
    config.audit = AuditConfig { file: Some(dir.join("audit.jsonl")) };
    config.server.trusted_proxies = proxies.iter().map(|p| p.parse().unwrap()).collect();
    spawn_config(test, Config { auth: auth.unwrap_or(config.auth.clone()), ..config }).await
}

/// `(action, registry, name, version, outcome, status)` of an event.
fn summary(event: &Value) -> (String, Value, Value, Value, String, u64) {
    (
        event["action"].as_str().unwrap().to_owned(),
        event["registry"].clone(),
        event["name"].clone(),
        event["version"].clone(),
        event["outcome"].as_str().unwrap().to_owned(),
        event["status"].as_u64().unwrap(),
    )
}

on_both_backends! {
    async fn every_write_is_one_event_with_its_target_request_id_and_outcome(test: &TestStore) {
        let dir = tempfile::tempdir().unwrap();
        let app = audited_app(test, dir.path(), None, &[]).await;
        let tool = "/v0.1/servers/io.example%2Ftool";

        let published = app.post_json("/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
        app.get("/v0.1/servers").await;
        app.post_json("/v0.1/validate", &server_json("io.example/tool", "1.0.1")).await;
        app.patch_json(&format!("{tool}/versions/1.0.0/status"), &json!({"status": "deprecated"})).await;
        app.patch_json(&format!("{tool}/status"), &json!({"status": "deprecated"})).await;
        app.send(app.client.put(format!("{}{tool}/versions/1.0.0", app.base)).json(&server_json("io.example/tool", "1.0.0"))).await;
        app.delete(&format!("{tool}/versions/1.0.0")).await;
        app.post_json("/extension/v0/registries/files/sync", &json!({})).await;
        app.post_json("/registry/files/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;

        let events = events(&dir.path().join("audit.jsonl"), 7);
        let summaries: Vec<_> = events.iter().map(summary).collect();
        let row = |action: &str, registry: &str, name: Option<&str>, version: Option<&str>, outcome: &str, status| {
            (action.to_owned(), json!(registry), json!(name), json!(version), outcome.to_owned(), status)
        };
        let tool = Some("io.example/tool");
        assert_eq!(summaries, [
            row("publish", "internal", tool, Some("1.0.0"), "success", 201),
            row("status", "internal", tool, Some("1.0.0"), "success", 200),
            row("status", "internal", tool, None, "failed", 400),
            row("edit", "internal", tool, Some("1.0.0"), "success", 200),
            row("delete", "internal", tool, Some("1.0.0"), "success", 200),
            row("sync", "files", None, None, "success", 202),
            row("publish", "files", None, None, "refused", 403),
        ], "reads and validation are not audited; the repeated status change was a no-op (400)");
        let first = &events[0];
        assert_eq!(first["requestId"].as_str(), published.headers["x-request-id"].to_str().ok());
        assert_eq!((first["method"].as_str(), first["path"].as_str()), (Some("POST"), Some("/v0.1/publish")));
        assert_eq!(first["client"], "127.0.0.1");
        assert_eq!((&first["provider"], &first["subject"]), (&Value::Null, &Value::Null), "anonymous mode");
        assert!(first["time"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().is_ok());
    }
}

#[tokio::test]
async fn refusals_name_the_caller_when_known_and_never_hold_the_token() {
    let test = TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let mut auth = oauth(vec![provider(&mock, "idp")], false);
    let claim = |key: &str, value: &str| -> ClaimMatch { [(key.to_owned(), vec![value.to_owned()])].into() };
    auth.authz = Some(AuthzConfig {
        roles: Roles { manage_entries: vec![claim("groups", "publishers")], ..Roles::default() },
        namespaces: vec![NamespaceRule {
            matcher: claim("groups", "publishers"),
            publish: vec!["com.acme.*".into()],
        }],
    });
    let app = audited_app(&test, dir.path(), Some(auth), &[]).await;
    let publisher = mock.token(AUDIENCE, json!({"sub": "alice", "groups": ["publishers"]}));
    let reader = mock.token(AUDIENCE, json!({"sub": "bob"}));
    let publish = |token: Option<&str>, name: &str| {
        let request = app.client.post(format!("{}/v0.1/publish", app.base)).json(&server_json(name, "1.0.0"));
        app.send(match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        })
    };

    publish(None, "com.acme.tools/tool").await.problem(401);
    publish(Some("not-a-token"), "com.acme.tools/tool").await.problem(401);
    publish(Some(&reader), "com.acme.tools/tool").await.problem(403);
    publish(Some(&publisher), "io.other/tool").await.problem(403);
    assert_eq!(publish(Some(&publisher), "com.acme.tools/tool").await.status, 201);
    app.get_as("/v0.1/servers", None).await.problem(401);
    assert_eq!(app.get_as("/v0.1/servers", Some(&bearer(&reader))).await.status, 200);
    app.get_as("/v0.1/servers/x/versions", Some("Basic eA==")).await.problem(401);

    let path = dir.path().join("audit.jsonl");
    let events = events(&path, 7);
    let who: Vec<(&str, &str, &Value, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                &e["subject"],
                e["detail"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(who[0], ("publish", "refused", &Value::Null, "no bearer token"));
    assert_eq!((who[1].0, who[1].1, who[1].2), ("publish", "refused", &Value::Null));
    assert!(who[1].3.starts_with("the token was refused"), "{}", who[1].3);
    assert_eq!(
        who[2],
        (
            "publish",
            "refused",
            &json!("bob"),
            "forbidden: insufficient permissions (publish needs the manageEntries role)"
        )
    );
    assert_eq!((who[3].0, who[3].1, who[3].2), ("publish", "refused", &json!("alice")));
    assert!(who[3].3.contains("io.other/tool is outside your namespaces"), "{}", who[3].3);
    assert_eq!((who[4].0, who[4].1, who[4].2), ("publish", "success", &json!("alice")));
    assert_eq!(
        (who[5].0, who[5].1, who[5].2, who[5].3),
        ("read", "refused", &Value::Null, "no bearer token")
    );
    assert_eq!(events[6]["path"], "/v0.1/servers/x/versions", "a successful read is not audited");
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(|e| e["provider"] == "idp" || e["subject"].is_null()));
    let text = std::fs::read_to_string(&path).unwrap();
    for token in [publisher.as_str(), reader.as_str(), "not-a-token"] {
        assert!(!text.contains(token), "a token is in the audit file");
    }
    test.cleanup().await;
}

#[tokio::test]
async fn the_client_comes_from_x_forwarded_for_only_behind_a_trusted_proxy() {
    let test = TestStore::sqlite().await;
    let (trusting, direct) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let behind_proxy = audited_app(&test, trusting.path(), None, &["127.0.0.0/8"]).await;
    let exposed = audited_app(&test, direct.path(), None, &["10.0.0.0/8"]).await;
    for (app, version) in [(&behind_proxy, "1.0.0"), (&exposed, "2.0.0")] {
        let request = app
            .client
            .post(format!("{}/v0.1/publish", app.base))
            .json(&server_json("io.example/tool", version));
        app.send(request.header("x-forwarded-for", "198.51.100.1, 203.0.113.5")).await;
    }

    assert_eq!(events(&trusting.path().join("audit.jsonl"), 1)[0]["client"], "203.0.113.5");
    assert_eq!(
        events(&direct.path().join("audit.jsonl"), 1)[0]["client"],
        "127.0.0.1",
        "a client's own header is ignored"
    );
    test.cleanup().await;
}

#[tokio::test]
async fn a_failing_audit_file_never_fails_the_write() {
    let test = TestStore::sqlite().await;
    let mut config = test_config(test.config.clone(), vec![managed_registry("internal")]);
    config.audit = AuditConfig { file: Some("/dev/full".into()) };
    let app = spawn_config(&test, config).await;

    let published = app.post_json("/v0.1/publish", &server_json("io.example/tool", "1.0.0")).await;
    let deleted = app.delete("/v0.1/servers/io.example%2Ftool/versions/1.0.0").await;

    assert_eq!((published.status.as_u16(), deleted.status.as_u16()), (201, 200));
    test.cleanup().await;
}

#[tokio::test]
async fn an_audit_file_that_cannot_be_opened_stops_start_up_naming_the_key() {
    let test = TestStore::sqlite().await;
    let mut config = test_config(test.config.clone(), vec![managed_registry("internal")]);
    config.audit = AuditConfig { file: Some("/nonexistent/audit.jsonl".into()) };

    let error = registry_api::Application::build(config, "127.0.0.1:0".parse().unwrap()).await.err().unwrap();

    assert!(format!("{error:#}").contains("audit.file: cannot open /nonexistent/audit.jsonl"), "{error:#}");
    test.cleanup().await;
}
