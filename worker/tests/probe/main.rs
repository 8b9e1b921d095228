//! The prober's client against stand-ins on loopback, one per way a remote fails, and against a real MCP
//! server (this registry's own `/mcp`). Nothing here leaves 127.0.0.0/8.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::any;
use registry_runtime::outbound::HostTable;
use registry_worker::probe::{Limits, Outcome, http_client, probe};

fn limits(allow_private_ip: bool) -> Limits {
    Limits {
        timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(2),
        max_tools: 1000,
        max_response_bytes: 64 * 1024,
        allow_private_ip,
    }
}

/// Serves `app` on a loopback port.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test]
async fn each_failing_remote_ends_in_its_outcome_within_the_timeout() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let elsewhere = serve(Router::new().fallback(any(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "followed" }
    })))
    .await;
    let target = format!("http://{elsewhere}/mcp");
    let stand_ins = serve(
        Router::new()
            .route("/redirect", any(move || {
                let target = target.clone();
                async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }
            }))
            .route("/auth", any(|| async {
                (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE,
                    r#"Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp""#)])
            }))
            .route("/html", any(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html>hello</html>") }))
            .route("/gone", any(|| async { StatusCode::NOT_FOUND }))
            .route("/broken", any(|| async { StatusCode::BAD_GATEWAY }))
            .route("/huge", any(|| async {
                ([(header::CONTENT_TYPE, "application/json")], format!(r#"{{"pad":"{}"}}"#, "x".repeat(200 * 1024)))
            }))
            .route("/silent", any(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late".into_response()
            }))
            .route("/drip", any(|| async {
                // An event stream that never ends: a comment every 100 ms, and never an answer.
                let drip = futures::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok::<_, std::convert::Infallible>(": still here\n\n"), ()))
                });
                ([(header::CONTENT_TYPE, "text/event-stream")], axum::body::Body::from_stream(drip))
            }))
            .route("/cursor-loop", any(cursor_loop)),
    )
    .await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let named: HostTable = Arc::new(HashMap::from([(
        "mcp.example.test".to_owned(),
        vec![format!("127.0.0.2:{}", stand_ins.port()).parse().unwrap()],
    )]));

    for (url, allow_private, outcome, status) in [
        (format!("http://{stand_ins}/redirect"), true, Outcome::HttpError, Some(307)),
        (format!("http://{stand_ins}/auth"), true, Outcome::RequiresAuth, Some(401)),
        (format!("http://{stand_ins}/html"), true, Outcome::ProtocolError, None),
        (format!("http://{stand_ins}/gone"), true, Outcome::HttpError, Some(404)),
        (format!("http://{stand_ins}/broken"), true, Outcome::HttpError, Some(502)),
        (format!("http://{stand_ins}/huge"), true, Outcome::TooLarge, None),
        (format!("http://{stand_ins}/silent"), true, Outcome::Timeout, None),
        (format!("http://{stand_ins}/drip"), true, Outcome::Timeout, None),
        (format!("http://{stand_ins}/cursor-loop"), true, Outcome::ProtocolError, None),
        // TLS to a listener that speaks plain HTTP: the handshake fails.
        (format!("https://{stand_ins}/html"), true, Outcome::TlsError, None),
        (format!("http://{closed}/mcp"), true, Outcome::Refused, None),
        (format!("http://{stand_ins}/html"), false, Outcome::BlockedAddress, None),
        (format!("http://mcp.example.test:{}/html", stand_ins.port()), false, Outcome::BlockedAddress, None),
    ] {
        let limits = limits(allow_private);
        let report = probe(&url, &limits, &http_client(&limits, named.clone()).unwrap()).await;
        // The closing note's table of outcomes and times comes from these lines (--no-capture).
        eprintln!("{:<22} {:>8.1?}  {url}", report.outcome.as_str(), report.duration);
        assert_eq!(report.outcome, outcome, "{url}: {report:?}");
        assert_eq!(report.http_status, status, "{url}: {report:?}");
        assert!(report.duration < Duration::from_secs(4), "{url}: {:?}", report.duration);
        if url.ends_with("/cursor-loop") {
            let detail = report.detail.as_deref().unwrap_or_default();
            assert!(
                detail.contains("\"the-same\" came twice"),
                "initialized, then stopped at the loop: {detail}"
            );
        }
        if outcome == Outcome::RequiresAuth {
            assert_eq!(
                report.resource_metadata.as_deref(),
                Some("http://127.0.0.1/.well-known/oauth-protected-resource/mcp")
            );
        }
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a redirect is never followed");
}

/// A minimal MCP server whose `tools/list` names the same next cursor every time: the prober must stop.
async fn cursor_loop(body: String) -> axum::response::Response {
    let request: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let id = request["id"].clone();
    let answer = match request["method"].as_str().unwrap_or_default() {
        "initialize" => serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": "cursor-loop", "version": "1.0.0"}}),
        "tools/list" => serde_json::json!({"tools": [{"name": "again", "inputSchema": {"type": "object"}}],
            "nextCursor": "the-same"}),
        _ if id.is_null() => return StatusCode::ACCEPTED.into_response(),
        _ => {
            let error = serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}});
            return ([(header::CONTENT_TYPE, "application/json")], error.to_string()).into_response();
        }
    };
    let reply = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": answer});
    ([(header::CONTENT_TYPE, "application/json")], reply.to_string()).into_response()
}

/// A real MCP server (this registry's own `/mcp`, rmcp's server): its tools listed on 2026-07-28, and cut at
/// `maxTools` with `truncated`.
#[tokio::test]
async fn a_real_mcp_server_gets_its_tools_listed_and_cut_at_max_tools() {
    use registry_api::Application;
    use registry_testkit::{TestStore, file_registry, test_config};

    let origin = TestStore::sqlite().await;
    let config = test_config(origin.config.clone(), vec![file_registry("team")]);
    origin.store.apply_registries(&config.registries).await.unwrap();
    let application = Application::build(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://127.0.0.1:{}/mcp", application.local_addr().unwrap().port());
    tokio::spawn(application.run_until(std::future::pending()));

    let http = http_client(&limits(true), HostTable::default()).unwrap();
    let report = probe(&url, &limits(true), &http).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report:?}");
    assert_eq!(report.protocol_version.as_deref(), Some("2026-07-28"));
    assert_eq!(report.server_info.as_ref().map(|i| i.name.as_str()), Some("mcp-registry"));
    let mut names: Vec<&str> = report.tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "get_install_config",
            "get_server",
            "list_registries",
            "list_versions",
            "search_servers",
            "search_tools"
        ]
    );
    assert!(!report.truncated);

    let cut = probe(&url, &Limits { max_tools: 2, ..limits(true) }, &http).await;
    assert_eq!((cut.outcome, cut.tools.len(), cut.truncated), (Outcome::Ok, 2, true), "{cut:?}");
    origin.cleanup().await;
}
mod passes;
