//! What `/mcp` was asked and how it went: the JSON-RPC method and tool of each request, in the request's
//! log line and in `mcp_requests_total{method,tool,outcome}` and `mcp_request_duration_seconds`. Both labels
//! come from fixed lists (`unknown` otherwise), so the series stay bounded.

use std::time::Instant;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use registry_runtime::metrics::{MCP_DURATION, MCP_REQUESTS};
use serde::Deserialize;

use super::MAX_REQUEST_BYTES;
use crate::error::ApiError;

/// The methods a client may send, as labels.
const METHODS: [&str; 14] = [
    "initialize",
    "notifications/initialized",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "notifications/cancelled",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
];

/// The tools, as labels.
pub const TOOLS: [&str; 6] = [
    "search_servers",
    "get_server",
    "list_versions",
    "get_install_config",
    "list_registries",
    "search_tools",
];

/// The largest answer read for its outcome; a larger one is counted `ok` unread.
const MAX_ANSWER_READ: usize = 8 * 1024 * 1024;

#[derive(Deserialize)]
struct Call<'a> {
    #[serde(borrow)]
    method: Option<&'a str>,
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    name: Option<&'a str>,
}

/// The method and tool labels of a request body: a batch is `batch`, anything unreadable `unknown`.
fn labels(body: &[u8]) -> (&'static str, &'static str) {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return ("batch", "");
    }
    let Ok(call) = serde_json::from_slice::<Call<'_>>(body) else { return ("unknown", "") };
    let method =
        call.method.and_then(|m| METHODS.iter().find(|known| **known == m)).copied().unwrap_or("unknown");
    let tool = match (method, call.params.and_then(|p| p.name)) {
        ("tools/call", Some(name)) => {
            TOOLS.iter().find(|known| **known == name).copied().unwrap_or("unknown")
        }
        ("tools/call", None) => "unknown",
        _ => "",
    };
    (method, tool)
}

/// `ok`, `tool_error` (`isError`), `error` (a JSON-RPC error), `refused` (an HTTP 4xx) or `failed` (5xx).
/// Read from the answer's bytes without parsing them: a JSON-RPC error's `error` member follows `jsonrpc` and
/// `id` at the start, and rmcp writes a tool result's `isError` after its content, among the last members (the
/// content, as JSON, holds a `"` only escaped inside strings).
fn outcome(status: StatusCode, body: &Bytes) -> &'static str {
    if status.is_server_error() {
        return "failed";
    }
    if status.is_client_error() {
        return "refused";
    }
    let head = &body[..body.len().min(64)];
    if find(head, b"\"error\":").is_some() {
        return "error";
    }
    let tail = &body[body.len().saturating_sub(512)..];
    if find(tail, b"\"isError\":true").is_some() { "tool_error" } else { "ok" }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Around the `/mcp` service: reads the request (refusing a body over the limit with 413, as the service
/// would), names its method and tool in the request's span, and counts it with its outcome.
pub async fn observe(request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_REQUEST_BYTES).await else {
        count("unknown", "", "refused", started);
        let detail = format!("the JSON-RPC request is over {MAX_REQUEST_BYTES} bytes");
        return (StatusCode::PAYLOAD_TOO_LARGE, ApiError::PayloadTooLarge(detail)).into_response();
    };
    let (method, tool) = labels(&body);
    let span = tracing::Span::current();
    span.record("mcp.method", method);
    if !tool.is_empty() {
        span.record("mcp.tool", tool);
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let Ok(answer) = to_bytes(body, MAX_ANSWER_READ).await else {
        count(method, tool, "failed", started);
        return ApiError::Internal(anyhow::anyhow!("the MCP answer could not be read")).into_response();
    };
    count(method, tool, outcome(parts.status, &answer), started);
    Response::from_parts(parts, Body::from(answer))
}

fn count(method: &'static str, tool: &'static str, outcome: &'static str, started: Instant) {
    metrics::histogram!(MCP_DURATION, "method" => method, "tool" => tool)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(MCP_REQUESTS, "method" => method, "tool" => tool, "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_lists() {
        assert_eq!(
            labels(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_server"}}"#),
            ("tools/call", "get_server")
        );
        assert_eq!(
            labels(br#"{"method":"tools/call","params":{"name":"rm -rf"}}"#),
            ("tools/call", "unknown")
        );
        assert_eq!(labels(br#"{"method":"made/up"}"#), ("unknown", ""));
        assert_eq!(labels(b" [{}, {}]"), ("batch", ""));
        assert_eq!(labels(b"{not json"), ("unknown", ""));
        assert_eq!(
            outcome(StatusCode::OK, &Bytes::from_static(br#"{"result":{"isError":true}}"#)),
            "tool_error"
        );
        assert_eq!(outcome(StatusCode::OK, &Bytes::from_static(br#"{"error":{"code":-32602}}"#)), "error");
        assert_eq!(outcome(StatusCode::OK, &Bytes::from_static(br#"{"result":{"tools":[]}}"#)), "ok");
        assert_eq!(outcome(StatusCode::BAD_REQUEST, &Bytes::new()), "refused");
    }
}
