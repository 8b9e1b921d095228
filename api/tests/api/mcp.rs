//! `/mcp` as an MCP client meets it, over plain HTTP: the handshake era (initialize, then calls with no
//! session) and 2026-07-28 (no handshake, the `Mcp-*` headers), the tools' answers and refusals, and the
//! transport's bounds.

use registry_core::formats::Entry;
use registry_runtime::config::{Config, McpConfig};
use registry_testkit::*;
use serde_json::{Value, json};

use crate::helpers::*;

pub const LEGACY: &str = "2025-06-18";
const MODERN: &str = "2026-07-28";

/// One JSON-RPC call to `/mcp` with the headers a client of `version` sends; the reply and its body.
pub async fn rpc(app: &TestApp, version: &str, method: &str, params: Value) -> Reply {
    rpc_with(app, version, method, params, &[]).await
}

async fn rpc_with(
    app: &TestApp,
    version: &str,
    method: &str,
    mut params: Value,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = (app.client.post(format!("{}/mcp", app.base)))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", version);
    if version == MODERN {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        request = request.header("mcp-method", method);
        if let Some(name) = params["name"].as_str() {
            request = request.header("mcp-name", name);
        }
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    app.send(request.body(body.to_string())).await
}

async fn call(app: &TestApp, version: &str, tool: &str, arguments: Value) -> Value {
    let reply = rpc(app, version, "tools/call", json!({"name": tool, "arguments": arguments})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["result"].clone()
}

/// Two registries; `files` holds 45 tools, two versions of `io.example/weather` and a package server,
/// `io.example/forecast`.
pub async fn catalogue(test: &TestStore) -> TestApp {
    let app = spawn_app(test, vec![file_registry("files"), managed_registry("internal")]).await;
    app.snapshot("files", catalogue_entries()).await;
    app
}

pub fn catalogue_entries() -> Vec<Entry> {
    let mut entries: Vec<_> = (0..45).map(|n| entry(&format!("io.example/tool-{n:02}"), "1.0.0")).collect();
    entries.push(entry("io.example/weather", "1.0.0"));
    entries.push(entry("io.example/weather", "1.1.0"));
    let package = json!({"packages": [{"registryType": "pypi", "identifier": "weather-mcp", "version": "2.0.0",
        "transport": {"type": "stdio"}, "environmentVariables": [{"name": "WEATHER_KEY", "isRequired": true, "isSecret": true}]}]});
    entries.push(Entry { server: server_with("io.example/forecast", "2.0.0", package), origin: None });
    entries
}

on_both_backends! {
    async fn a_handshake_era_client_initialises_and_calls_every_tool_without_a_session(test: &TestStore) {
        let app = catalogue(test).await;
        for version in [LEGACY, "2025-11-25"] {
            let init = rpc(&app, version, "initialize", json!({
                "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}
            })).await;
            assert_eq!(init.status, 200, "{}", init.body);
            assert_eq!(init.body["result"]["protocolVersion"], version);
            assert_eq!(init.body["result"]["serverInfo"]["name"], "mcp-registry");
            assert!(init.headers.get("mcp-session-id").is_none(), "stateless: no session");
        }

        let tools = rpc(&app, LEGACY, "tools/list", json!({})).await;
        let names: Vec<&str> = tools.body["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 6, "{names:?}");
        for name in ["search_servers", "get_server", "list_versions", "list_registries", "get_install_config", "search_tools"] {
            let tool = tools.body["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap();
            assert_eq!(tool["annotations"]["readOnlyHint"], true, "{name}");
            assert_eq!(tool["outputSchema"]["type"], "object", "{name}");
        }

        // Paging to the end: 47 servers, 30 then 17.
        let first = call(&app, LEGACY, "search_servers", json!({})).await;
        let page = &first["structuredContent"];
        assert_eq!(page["servers"].as_array().unwrap().len(), 30);
        // Text for people, then the JSON for clients that read no structured content.
        let summary = first["content"][0]["text"].as_str().unwrap();
        assert!(summary.starts_with("30 servers: io.example/forecast 2.0.0,") && summary.ends_with("more with nextCursor"), "{summary}");
        assert_eq!(serde_json::from_str::<Value>(first["content"][1]["text"].as_str().unwrap()).unwrap(), *page);
        let next = call(&app, LEGACY, "search_servers", json!({"cursor": page["nextCursor"]})).await;
        assert_eq!(next["structuredContent"]["servers"].as_array().unwrap().len(), 17);
        assert!(next["structuredContent"].get("nextCursor").is_none());
        // As fresh as the REST reads: a publish shows in the next search, cached or not.
        let before = call(&app, LEGACY, "search_servers", json!({"query": "brand-new"})).await;
        assert_eq!(before["structuredContent"]["servers"], json!([]));
        assert_eq!(before["content"][0]["text"], "no servers match");
        assert_eq!(app.post_json("/v0.1/publish", &server_json("io.example/brand-new", "1.0.0")).await.status, 201);
        let after = call(&app, LEGACY, "search_servers", json!({"query": "brand-new"})).await;
        assert_eq!(after["structuredContent"]["servers"][0]["registry"], "internal");
        let weather = call(&app, LEGACY, "search_servers", json!({"query": "WEATHER"})).await;
        assert_eq!(weather["structuredContent"]["servers"][0]["version"], "1.1.0", "the latest version");
        assert_eq!(weather["structuredContent"]["servers"][0]["registry"], "files");

        let server = call(&app, LEGACY, "get_server", json!({"name": "io.example/weather", "version": "1.0.0"})).await;
        assert_eq!(server["structuredContent"]["server"]["version"], "1.0.0");
        assert_eq!(server["structuredContent"]["_meta"]["io.modelcontextprotocol.registry/official"]["isLatest"], false);
        let versions = call(&app, LEGACY, "list_versions", json!({"name": "io.example/weather"})).await;
        assert_eq!(versions["structuredContent"]["versions"].as_array().unwrap().len(), 2);
        let install = call(&app, LEGACY, "get_install_config", json!({"name": "io.example/forecast", "client": "cursor"})).await;
        let config = &install["structuredContent"];
        let snippet: Value = serde_json::from_str(config["snippet"].as_str().unwrap()).unwrap();
        assert_eq!(snippet["mcpServers"]["forecast"]["command"], "uvx");
        assert_eq!(snippet["mcpServers"]["forecast"]["env"]["WEATHER_KEY"], "{WEATHER_KEY}");
        assert_eq!(config["toFill"][0]["name"], "WEATHER_KEY");
        let nothing = call(&app, LEGACY, "get_install_config", json!({"name": "io.example/weather", "client": "vscode"})).await;
        assert_eq!(nothing["isError"], true, "no remotes or packages: {nothing}");
        // An argument outside the input schema: a tool error that names it, so the model can correct it.
        let bad = call(&app, LEGACY, "get_install_config", json!({"name": "io.example/forecast", "client": "emacs"})).await;
        assert_eq!(bad["isError"], true);
        assert!(bad["content"][0]["text"].as_str().unwrap().contains("unknown variant `emacs`"), "{bad}");
        // Resources: every version, read by its URI, or the latest through the template.
        let resources = rpc(&app, LEGACY, "resources/list", json!({})).await;
        let listed = resources.body["result"]["resources"].as_array().unwrap();
        assert_eq!(listed.len(), 49, "45 tools, 2 weather versions, forecast, the one published");
        let weather = listed.iter().find(|r| r["name"] == "io.example/weather").unwrap();
        assert_eq!(weather["uri"], "mcp-registry://servers/io.example%2Fweather/1.0.0");
        let read = rpc(&app, LEGACY, "resources/read", json!({"uri": weather["uri"]})).await;
        let contents = &read.body["result"]["contents"][0];
        assert_eq!(contents["mimeType"], "application/json");
        let body: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
        assert_eq!(body["server"]["version"], "1.0.0");
        let latest = rpc(&app, LEGACY, "resources/read", json!({"uri": "mcp-registry://servers/io.example%2Fweather/latest"})).await;
        let body: Value = serde_json::from_str(latest.body["result"]["contents"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(body["server"]["version"], "1.1.0");
        let templates = rpc(&app, LEGACY, "resources/templates/list", json!({})).await;
        assert_eq!(templates.body["result"]["resourceTemplates"][0]["uriTemplate"], "mcp-registry://servers/{name}/latest");
        let missing = rpc(&app, LEGACY, "resources/read", json!({"uri": "mcp-registry://servers/io.example%2Fnone/1.0.0"})).await;
        assert_eq!(missing.body["error"]["code"], -32002, "{}", missing.body);

        let registries = call(&app, LEGACY, "list_registries", json!({})).await;
        assert_eq!(registries["structuredContent"]["registries"][0]["name"], "files");
        assert_eq!(registries["structuredContent"]["registries"][1]["kind"], "managed");
    }

    async fn a_2026_client_calls_with_no_handshake_and_wrong_input_gets_the_specs_errors(test: &TestStore) {
        let app = catalogue(test).await;
        let tools = rpc(&app, MODERN, "tools/list", json!({})).await;
        assert_eq!(tools.status, 200, "{}", tools.body);
        assert!(tools.body["result"]["ttlMs"].is_number(), "{}", tools.body);
        let resources = rpc(&app, MODERN, "resources/list", json!({})).await;
        assert!(resources.body["result"]["ttlMs"].is_number() && resources.body["result"]["cacheScope"].is_string(), "{}", resources.body);
        let found = call(&app, MODERN, "search_servers", json!({"query": "tool-0", "limit": 5})).await;
        assert_eq!(found["structuredContent"]["servers"].as_array().unwrap().len(), 5);

        // An unknown server: a tool error naming it, with names that come close.
        let unknown = call(&app, MODERN, "get_server", json!({"name": "io.example/weathr"})).await;
        assert_eq!(unknown["isError"], true);
        let text = unknown["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("no server io.example/weathr"), "{text}");
        // Bad arguments: tool errors naming the field; an unknown tool: a JSON-RPC error.
        for (arguments, field) in [(json!({"limit": 1000}), "limit"), (json!({"registry": "nope"}), "registry"), (json!({"cursor": "%%%"}), "cursor")] {
            let refused = call(&app, MODERN, "search_servers", arguments).await;
            assert_eq!(refused["isError"], true, "{refused}");
            let text = refused["content"][0]["text"].as_str().unwrap();
            assert!(text.starts_with(&format!("invalid argument {field}:")), "{text}");
        }
        let tool = rpc(&app, MODERN, "tools/call", json!({"name": "delete_everything", "arguments": {}})).await;
        assert_eq!(tool.body["error"]["code"], -32602, "{}", tool.body);
        // A header that disagrees with the body: 400.
        let mismatch = rpc_with(&app, MODERN, "tools/list", json!({}), &[("mcp-method", "tools/call")]).await;
        assert_eq!(mismatch.status, 400, "{}", mismatch.body);

        // A 2026-07-28 client may discover the server first.
        let discover = rpc(&app, MODERN, "server/discover", json!({})).await;
        assert_eq!(discover.status, 200, "{}", discover.body);
        let supported = discover.body["result"]["supportedVersions"].as_array().unwrap();
        assert!(supported.contains(&json!(MODERN)), "{}", discover.body);
        // A batch of 1,000 requests: refused (batches left JSON-RPC over MCP in 2025-06-18), not served.
        let batch: Vec<Value> = (0..1000).map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})).collect();
        let refused = app.send(app.client.post(format!("{}/mcp", app.base))
            .header("content-type", "application/json").header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", LEGACY).body(Value::Array(batch).to_string())).await;
        assert!(refused.status.is_client_error(), "{} {}", refused.status, refused.body);

        let get = app.get("/mcp").await;
        assert_eq!(get.status, 405);
        let not_json = app.send(app.client.post(format!("{}/mcp", app.base))
            .header("content-type", "application/json").header("accept", "application/json, text/event-stream")
            .body("{not json")).await;
        assert!(not_json.status.is_client_error() || not_json.body["error"].is_object(), "{} {}", not_json.status, not_json.body);
        let huge = app.send(app.client.post(format!("{}/mcp", app.base))
            .header("content-type", "application/json").header("accept", "application/json, text/event-stream")
            .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024)))).await;
        assert_eq!(huge.status, 413);
        // And it keeps serving.
        assert_eq!(rpc(&app, MODERN, "tools/list", json!({})).await.status, 200);
    }
}

#[tokio::test]
async fn with_allowed_hosts_another_host_is_refused_and_mcp_can_be_turned_off() {
    let test = TestStore::sqlite().await;
    let config = |mcp| Config { mcp, ..test_config(test.config.clone(), vec![file_registry("files")]) };
    let guarded = spawn_config(
        &test,
        config(McpConfig { enabled: true, allowed_hosts: vec!["registry.example.com".into()] }),
    )
    .await;
    let reply = rpc(&guarded, MODERN, "tools/list", json!({})).await;
    assert_eq!(reply.status, 403, "127.0.0.1 is not an allowed host: {}", reply.body);
    let named =
        rpc_with(&guarded, MODERN, "tools/list", json!({}), &[("host", "registry.example.com:8080")]).await;
    assert_eq!(named.status, 200, "{}", named.body);

    let off = spawn_config(&test, config(McpConfig { enabled: false, allowed_hosts: Vec::new() })).await;
    assert_eq!(rpc(&off, MODERN, "tools/list", json!({})).await.status, 404);
    test.cleanup().await;
}

/// In oauth mode `/mcp` is a read: without a token 401 with the RFC 9728 challenge MCP clients follow; a
/// read-only token works (it is never taken for a write); with `publicReads` the catalogue is open but the
/// registries' state still needs a token.
#[tokio::test]
async fn in_oauth_mode_mcp_is_a_protected_read_and_list_registries_keeps_needing_a_token() {
    use registry_testkit::oidc::MockProvider;

    use crate::auth::{AUDIENCE, app_with, oauth, provider};
    let test = TestStore::sqlite().await;
    let mock = MockProvider::start().await;
    let mut auth = oauth(vec![provider(&mock, "mock")], false);
    auth.oauth.as_mut().unwrap().enforce_scopes = true;
    let app = app_with(&test, auth.clone()).await;

    let refused = rpc(&app, MODERN, "tools/list", json!({})).await;
    assert_eq!(refused.status, 401);
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("resource_metadata=\""), "{challenge}");
    let reader = format!("Bearer {}", mock.token(AUDIENCE, json!({"scope": "mcp-registry:read"})));
    let read = rpc_with(
        &app,
        MODERN,
        "tools/call",
        json!({"name": "list_registries", "arguments": {}}),
        &[("authorization", &reader)],
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["result"]["structuredContent"]["registries"][0]["name"], "internal");

    auth.public_reads = true;
    let public = app_with(&test, auth).await;
    let open = rpc(&public, MODERN, "tools/call", json!({"name": "search_servers", "arguments": {}})).await;
    assert_eq!(open.status, 200, "{}", open.body);
    let closed =
        rpc(&public, MODERN, "tools/call", json!({"name": "list_registries", "arguments": {}})).await;
    assert_eq!(closed.body["result"]["isError"], true, "{}", closed.body);
    assert!(closed.body["result"]["content"][0]["text"].as_str().unwrap().contains("needs a token"));
    test.cleanup().await;
}

/// A `tools/call` of `search_servers` with this raw JSON-RPC id, as a 2025-06-18 client sends it.
async fn search_with_id(app: &TestApp, id: &str) -> Reply {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"search_servers","arguments":{{"limit":3}}}}}}"#
    );
    let request = (app.client.post(format!("{}/mcp", app.base)))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", LEGACY);
    app.send(request.body(body)).await
}

/// A call asked again gets the first answer again (replayed from memory) with its own id; an id rmcp writes
/// back differently still gets rmcp's form of it; and the headers rmcp checks still count.
#[tokio::test]
async fn a_call_asked_again_gets_the_same_answer_with_its_own_id_and_its_headers_still_checked() {
    let test = TestStore::sqlite().await;
    let app = catalogue(&test).await;
    let first = search_with_id(&app, "1").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["result"]["structuredContent"]["servers"].as_array().unwrap().len(), 3);
    for (id, echoed) in [
        ("1", json!(1)),
        ("42", json!(42)),
        (r#""req-7""#, json!("req-7")),
        ("1.0", json!(1)),
        (r#""a\u0041""#, json!("aA")),
    ] {
        let again = search_with_id(&app, id).await;
        assert_eq!(again.status, 200, "{id}: {}", again.body);
        assert_eq!(again.headers["content-type"], "application/json");
        assert_eq!(again.body["id"], echoed, "{id}");
        assert_eq!(again.body["result"], first.body["result"], "{id}");
    }

    let arguments = json!({"name": "search_servers", "arguments": {"limit": 3}});
    for _ in 0..2 {
        let modern = rpc(&app, MODERN, "tools/call", arguments.clone()).await;
        assert_eq!(modern.status, 200, "{}", modern.body);
    }
    let mismatch = rpc_with(&app, MODERN, "tools/call", arguments, &[("mcp-method", "tools/list")]).await;
    assert_eq!(
        mismatch.status, 400,
        "a header that disagrees with the body, after the same body was answered: {}",
        mismatch.body
    );
    test.cleanup().await;
}
