//! Request handling around the routes: request ids, structured request logs, the request timeout, and the
//! URL rules that apply before routing (no NUL bytes, no trailing slashes).

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_core::digest::hex_into;
use registry_runtime::config::format_duration;
use tower_http::request_id::{MakeRequestId, RequestId};
use tower_http::trace::{MakeSpan, OnResponse};
use tracing::Span;

use crate::error::ApiError;
use crate::names::{DOCS_PATH, REQUEST_ID};

/// Refuses NUL bytes (raw or `%00`) anywhere in the path or query, and redirects a path with a trailing slash
/// to the same path without it (308, so the method and body are kept), except Swagger UI's `/docs/`.
pub async fn normalize_url<F: Future<Output = Response>>(
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
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
    next(request).await
}

/// Answers 503 (with `Retry-After`) for a request that runs past `server.requestTimeout`; the handler is
/// dropped, and with it whatever it was waiting for.
pub async fn limit_duration<F: Future<Output = Response>>(
    limit: Duration,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    match tokio::time::timeout(limit, next(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "the request did not finish within server.requestTimeout ({})",
            format_duration(limit)
        ))
        .into_response(),
    }
}

/// Request ids: random UUIDs (version 4), drawn from the thread's generator rather than by a system call each.
#[derive(Clone, Copy)]
pub struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let mut bytes: [u8; 16] = rand::random();
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let mut text = *b"00000000-0000-0000-0000-000000000000";
        for (range, at) in [(0..4, 0), (4..6, 9), (6..8, 14), (8..10, 19), (10..16, 24)] {
            let digits = 2 * range.len();
            hex_into(&bytes[range], &mut text[at..at + digits]);
        }
        HeaderValue::from_bytes(&text).ok().map(RequestId::new)
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
pub async fn track_requests<F: Future<Output = Response>>(
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let in_flight = InFlight::start();
    let response = next(request).await;
    drop(in_flight);
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    HttpSeries::record(route, &method, response.status(), started.elapsed().as_secs_f64());
    response
}

/// The series of one route, method and status, resolved in the recorder once rather than looked up by name
/// and labels on each request.
struct Series {
    method: Method,
    status: StatusCode,
    duration: metrics::Histogram,
    requests: metrics::Counter,
}

impl Series {
    fn observe(&self, seconds: f64) {
        self.duration.record(seconds);
        self.requests.increment(1);
    }
}

/// Every route's series seen so far.
struct HttpSeries;

/// At most this many series per route are kept resolved: a client inventing methods makes no more.
const SERIES_PER_ROUTE: usize = 32;

static HTTP_SERIES: LazyLock<RwLock<HashMap<Box<str>, Vec<Series>>>> = LazyLock::new(RwLock::default);

impl HttpSeries {
    fn record(route: &str, method: &Method, status: StatusCode, seconds: f64) {
        let known = |series: &Series| series.method == method && series.status == status;
        {
            let routes = HTTP_SERIES.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = routes.get(route).and_then(|all| all.iter().find(|s| known(s))) {
                return series.observe(seconds);
            }
        }
        let series = Self::resolve(route, method, status);
        series.observe(seconds);
        let mut routes = HTTP_SERIES.write().unwrap_or_else(PoisonError::into_inner);
        let all = routes.entry(route.into()).or_default();
        if all.len() < SERIES_PER_ROUTE && !all.iter().any(known) {
            all.push(series);
        }
    }

    fn resolve(route: &str, method: &Method, status: StatusCode) -> Series {
        use registry_runtime::metrics::{HTTP_DURATION, HTTP_REQUESTS};
        let (route, method_label) = (route.to_owned(), method.as_str().to_owned());
        Series {
            method: method.clone(),
            status,
            duration: metrics::histogram!(HTTP_DURATION, "route" => route.clone(), "method" => method_label.clone()),
            requests: metrics::counter!(
                HTTP_REQUESTS, "route" => route, "method" => method_label, "status" => status.as_u16().to_string()
            ),
        }
    }
}

/// One request in flight, until dropped: also when the client goes away and the request's future with it.
struct InFlight;

/// The in-flight gauge, resolved once (after the recorder is installed: at the first request).
static IN_FLIGHT: LazyLock<metrics::Gauge> =
    LazyLock::new(|| metrics::gauge!(registry_runtime::metrics::HTTP_IN_FLIGHT));

impl InFlight {
    fn start() -> Self {
        IN_FLIGHT.increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.decrement(1.0);
    }
}
