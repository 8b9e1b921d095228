//! Request handling around the routes: request ids, structured request logs, the request timeout, and the
//! URL rules that apply before routing (no NUL bytes, no trailing slashes).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use registry_runtime::config::format_duration;
use tower_http::trace::{MakeSpan, OnResponse};
use tracing::Span;

use crate::error::ApiError;
use crate::names::{DOCS_PATH, REQUEST_ID};

/// Refuses NUL bytes (raw or `%00`) anywhere in the path or query, and redirects a path with a trailing slash
/// to the same path without it (308, so the method and body are kept), except Swagger UI's `/docs/`.
pub async fn normalize_url(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let has_nul = |part: &str| part.contains('\0') || part.to_ascii_lowercase().contains("%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::BadRequest("NUL bytes are not allowed in the path or query".into()).into_response();
    }
    let path = uri.path();
    // Swagger UI lives at /docs/ and redirects /docs there; sending it back would loop.
    if path.len() > 1 && path.ends_with('/') && path != DOCS_PATH {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let location = match uri.query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        return response;
    }
    next.run(request).await
}

/// Answers 503 (with `Retry-After`) for a request that runs past `server.requestTimeout`; the handler is
/// dropped, and with it whatever it was waiting for.
pub async fn limit_duration(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "the request did not finish within server.requestTimeout ({})",
            format_duration(limit)
        ))
        .into_response(),
    }
}

/// A span per request, named by the matched route (never the raw path), with the request id.
#[derive(Clone, Copy)]
pub struct RequestSpan;

impl MakeSpan<Body> for RequestSpan {
    fn make_span(&mut self, request: &Request<Body>) -> Span {
        let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
        // The request-id layer sets one; a value that is not text is logged as none.
        let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
        tracing::info_span!(
            "request",
            http.method = %request.method(),
            http.route = route,
            request.id = request_id,
            // Recorded by `/mcp` (`crate::mcp::observe`).
            mcp.method = tracing::field::Empty,
            mcp.tool = tracing::field::Empty,
        )
    }
}

/// One log line per response: status and duration, inside the request's span.
#[derive(Clone, Copy)]
pub struct ResponseLog;

impl<B> OnResponse<B> for ResponseLog {
    fn on_response(self, response: &Response<B>, latency: Duration, _span: &Span) {
        let status = response.status().as_u16();
        let duration_ms = latency.as_secs_f64() * 1000.0;
        if response.status().is_server_error() {
            tracing::error!(http.status = status, duration_ms, "request served");
        } else {
            tracing::info!(http.status = status, duration_ms, "request served");
        }
    }
}

/// The HTTP metrics of a request, labelled by the route it matched (never the raw path, which would make a
/// series per server name) or `unmatched`, with its method and status; and the requests in flight.
pub async fn track_requests(request: Request, next: Next) -> Response {
    use registry_runtime::metrics::{HTTP_DURATION, HTTP_REQUESTS};
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let in_flight = InFlight::start();
    let response = next.run(request).await;
    drop(in_flight);
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_DURATION, "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status).increment(1);
    response
}

/// One request in flight, until dropped: also when the client goes away and the request's future with it.
struct InFlight;

impl InFlight {
    fn start() -> Self {
        metrics::gauge!(registry_runtime::metrics::HTTP_IN_FLIGHT).increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(registry_runtime::metrics::HTTP_IN_FLIGHT).decrement(1.0);
    }
}
