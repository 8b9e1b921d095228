//! `/mcp` against a client no one here wrote: the official MCP Python SDK (`mcp` 2.3.0, installed by
//! scripts/mcp-sdk.sh, which scripts/test.sh runs), on the handshake era and on 2026-07-28, on both backends,
//! and in oauth mode with a client-credentials token from a real OpenID provider.

use std::path::Path;

use registry_testkit::*;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mcp::catalogue;

/// Runs the SDK's client script against `base`/mcp in `mode`, and reads what it saw.
async fn sdk_client(base: &str, mode: &str, token: Option<&str>) -> Value {
    let python = std::env::var("TEST_MCP_PYTHON").expect(
        "TEST_MCP_PYTHON names the MCP Python SDK's python: scripts/test.sh sets it (scripts/mcp-sdk.sh)",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp_sdk_client.py");
    let mut command = tokio::process::Command::new(python);
    command.arg(script).arg(format!("{base}/mcp")).arg(mode).args(token);
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("the SDK client finished within 60 s")
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the SDK client failed:\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

fn assert_saw_the_catalogue(seen: &Value, version: &str) {
    assert_eq!(seen["protocolVersion"], version, "{seen}");
    assert_eq!(
        seen["tools"],
        json!([
            "get_install_config",
            "get_server",
            "list_registries",
            "list_versions",
            "search_servers",
            "search_tools"
        ])
    );
    assert_eq!(seen["searched"].as_array().unwrap().len(), 47, "every server, once: {seen}");
    assert_eq!(seen["pages"], 3);
    assert_eq!(seen["getServer"], "2.0.0");
    assert_eq!(seen["versions"], json!(["1.1.0", "1.0.0"]));
    assert_eq!(seen["install"]["servers"]["forecast"]["command"], "uvx");
    assert_eq!(seen["registries"], json!(["files", "internal"]));
    assert_eq!(seen["unknownIsError"], true);
    assert_eq!(seen["resource"], "io.example/forecast");
}

on_both_backends! {
    async fn the_python_sdk_on_the_handshake_era_lists_calls_pages_and_reads(test: &TestStore) {
        let app = catalogue(test).await;
        assert_saw_the_catalogue(&sdk_client(&app.base, "legacy", None).await, "2025-11-25");
    }

    async fn the_python_sdk_on_2026_07_28_lists_calls_pages_and_reads(test: &TestStore) {
        let app = catalogue(test).await;
        assert_saw_the_catalogue(&sdk_client(&app.base, "2026-07-28", None).await, "2026-07-28");
    }
}

/// oauth mode with examples/oauth-local.yaml and its real OpenID provider: `/mcp` without a token is 401 with
/// the RFC 9728 challenge, and the SDK's client with a client-credentials token reads everything.
#[tokio::test]
async fn with_oauth_the_python_sdk_reads_with_a_client_credentials_token_from_a_real_provider() {
    use crate::oidc_e2e::{LocalProvider, RESOURCE};
    let test = TestStore::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let provider = LocalProvider::start(&dir.path().join("oidc-provider.log")).await;
    let mut config = provider.example_config();
    config.database = test.config.clone();
    config.registries = vec![file_registry("files"), managed_registry("internal")];
    config.audit.file = Some(dir.path().join("audit.jsonl"));
    let app = spawn_config(&test, config).await;
    app.snapshot("files", crate::mcp::catalogue_entries()).await;

    let refused = app
        .send(
            app.client
                .post(format!("{}/mcp", app.base))
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
        )
        .await;
    assert_eq!(refused.status, 401);
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!("resource_metadata=\"{RESOURCE}/.well-known/oauth-protected-resource\"")),
        "{challenge}"
    );

    let token = provider.token("reader", "reader-secret", RESOURCE).await;
    assert_saw_the_catalogue(&sdk_client(&app.base, "2026-07-28", Some(&token)).await, "2026-07-28");
    test.cleanup().await;
}
