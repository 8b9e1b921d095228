//! rmcp's own client against two API replicas on one PostgreSQL, behind a proxy on loopback that sends each
//! request to the other replica: one conversation's requests alternate between replicas, as behind a load
//! balancer with no sticky sessions, and nothing breaks.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use registry_testkit::*;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ResourceContents,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mcp::catalogue;

/// Where the proxy sent each request, in order (0 or 1).
#[derive(Clone)]
struct RoundRobin {
    replicas: [String; 2],
    sent: Arc<Mutex<Vec<usize>>>,
    client: reqwest::Client,
}

/// Forwards a request to the replica after the last one used, and its answer back.
async fn forward(State(proxy): State<RoundRobin>, request: Request) -> Response {
    let replica = {
        let mut sent = proxy.sent.lock().unwrap();
        let next = sent.last().map_or(0, |last| 1 - last);
        sent.push(next);
        next
    };
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let url = format!("{}{}", proxy.replicas[replica], parts.uri.path_and_query().unwrap());
    let mut outbound = proxy.client.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            outbound = outbound.header(name, value);
        }
    }
    let Ok(answer) = outbound.send().await else {
        return Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::empty()).unwrap();
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    let bytes: Bytes = answer.bytes().await.unwrap();
    response.body(Body::from(bytes)).unwrap()
}

/// The proxy's address, and its record of where requests went.
async fn proxy(replicas: [&TestApp; 2]) -> (String, Arc<Mutex<Vec<usize>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let proxy = RoundRobin {
        replicas: replicas.map(|app| app.base.clone()),
        sent: sent.clone(),
        client: client_builder().build().unwrap(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), sent)
}

async fn connect(url: &str, lifecycle: ClientLifecycleMode) -> RunningService<RoleClient, ClientConfig> {
    let transport = StreamableHttpClientTransport::with_client(
        client_builder().build().unwrap(),
        StreamableHttpClientTransportConfig::with_uri(format!("{url}/mcp")),
    );
    let me = ClientConfig::new(ClientCapabilities::default(), Implementation::new("replicas-test", "1"));
    me.serve_with_lifecycle(transport, lifecycle).await.unwrap()
}

/// A tool's structured content; a tool error fails the test.
async fn call(
    client: &RunningService<RoleClient, ClientConfig>,
    tool: &'static str,
    arguments: Value,
) -> Value {
    let Value::Object(arguments) = arguments else { panic!("arguments are an object") };
    let result = client.call_tool(CallToolRequestParams::new(tool).with_arguments(arguments)).await.unwrap();
    assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    result.structured_content.unwrap()
}

/// One conversation: the tools listed, `search_servers` paged to the end, a server, its versions, its
/// install configuration, and a resource read. Answers the names found.
async fn converse(client: &RunningService<RoleClient, ClientConfig>) -> Vec<String> {
    let tools = client.list_tools(None).await.unwrap();
    assert_eq!(tools.tools.len(), 6);
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut arguments = json!({"limit": 10});
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let page = call(client, "search_servers", arguments).await;
        names.extend(
            page["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let server = call(client, "get_server", json!({"name": "io.example/weather"})).await;
    assert_eq!(server["server"]["version"], "1.1.0");
    let versions = call(client, "list_versions", json!({"name": "io.example/weather"})).await;
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    let install =
        call(client, "get_install_config", json!({"name": "io.example/forecast", "client": "vscode"})).await;
    assert_eq!(install["toFill"][0]["name"], "WEATHER_KEY");
    let resources = client.list_resources(Some(PaginatedRequestParams::default())).await.unwrap();
    let first = &resources.resources[0];
    let read = client.read_resource(ReadResourceRequestParams::new(first.uri.clone())).await.unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else { panic!("{read:?}") };
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["server"]["name"], first.name.as_str());
    names
}

#[tokio::test]
async fn rmcps_client_talks_to_two_replicas_in_turn_in_either_era() {
    let test = TestStore::postgres().await;
    let first = catalogue(&test).await;
    let second = spawn_app(&test, vec![file_registry("files"), managed_registry("internal")]).await;
    let (url, sent) = proxy([&first, &second]).await;

    for (era, lifecycle) in [
        (ProtocolVersion::V_2025_11_25, ClientLifecycleMode::Initialize),
        (
            ProtocolVersion::V_2026_07_28,
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        ),
    ] {
        sent.lock().unwrap().clear();
        let client = connect(&url, lifecycle).await;
        let server = client.peer_info().unwrap();
        assert_eq!(server.protocol_version, era, "{era}");
        assert_eq!(server.server_info.as_ref().unwrap().name, "mcp-registry", "{era}");
        let names = converse(&client).await;
        assert_eq!(names.len(), 47, "{era}: 45 tools, weather and forecast, each once: {names:?}");
        let sent = sent.lock().unwrap().clone();
        let (to_first, to_second) =
            (sent.iter().filter(|r| **r == 0).count(), sent.iter().filter(|r| **r == 1).count());
        assert!(to_first >= 5 && to_second >= 5 && to_first.abs_diff(to_second) <= 1, "{era}: {sent:?}");
        client.cancel().await.unwrap();
    }
    test.cleanup().await;
}
