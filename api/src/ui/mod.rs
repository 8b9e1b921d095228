//! The web catalogue under `/ui`: server-rendered pages (askama templates, checked at compile time) over
//! the same store reads and page cache as the API, with one stylesheet and one enhancement script compiled
//! into the binary (memory-serve, hashed names, immutable caching). Every page works without JavaScript,
//! and every `/ui` answer carries a strict Content Security Policy.

mod auth;
mod catalogue;
mod publish;
mod registries;
mod server;
pub mod visitor;

use std::sync::OnceLock;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use registry_store::Scope;

use crate::error::ApiError;
use crate::http_cache::content_key;
use crate::names::REQUEST_ID;
use crate::page_cache::Encoding;
use crate::state::AppState;

/// Where the pages live; `/` leads here when the UI is on.
pub const UI_PATH: &str = "/ui";
/// The registries page, which needs a token even when `publicReads` opens the other pages.
pub const REGISTRIES_PATH: &str = "/ui/registries";
/// Where signing in begins (`?return=` the page to come back to).
pub const SIGN_IN_PATH: &str = "/ui/auth/sign-in";

/// Whether a path is the web catalogue's, where a session cookie counts as a signed-in user.
pub fn is_ui(path: &str) -> bool {
    path.strip_prefix(UI_PATH).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to(UI_PATH) }))
        .route(UI_PATH, get(catalogue::page))
        .route(REGISTRIES_PATH, get(registries::page))
        .route("/ui/publish", get(publish::form))
        .route("/ui/publish/validate", post(publish::validate))
        .route("/ui/publish", post(publish::publish))
        .route("/ui/registries/{name}/sync", post(registries::sync_now))
        .route(SIGN_IN_PATH, get(auth::sign_in))
        .route(registry_runtime::config::SIGN_IN_CALLBACK_PATH, get(auth::callback))
        .route(auth::SIGN_OUT_PATH, post(auth::sign_out))
        .route(auth::SIGNED_OUT_PATH, get(auth::signed_out))
        .route("/ui/servers/{namespace}/{name}", get(server::latest))
        .route("/ui/servers/{namespace}/{name}/versions/{version}", get(server::version))
        .nest_service("/ui/assets", assets())
        .route("/ui/{*rest}", get(|| async { not_found("No page lives at this address.") }))
        .layer(axum::middleware::from_fn(secure_headers))
}

/// `?fragment=`: a part of a page, rendered from the page's own template, which the script swaps in without
/// loading the whole page again.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Fragment {
    fragment: Option<String>,
}

impl Fragment {
    fn is(&self, part: &str) -> bool {
        self.fragment.as_deref() == Some(part)
    }
}

/// The assets as served: each also on a route with its content's hash, cached for a year.
#[expect(unused_qualifications, reason = "memory-serve's generated asset table names its types in full")]
fn served() -> memory_serve::MemoryServe {
    memory_serve::load!().enable_hashed_routes(true)
}

fn assets() -> Router {
    served().into_router()
}

/// The URLs the pages link their stylesheet and script by: the hashed routes, cached for a year.
#[derive(Debug, Clone)]
pub struct Assets {
    pub css: String,
    pub js: String,
    pub version: &'static str,
}

fn asset_urls() -> &'static Assets {
    static URLS: OnceLock<Assets> = OnceLock::new();
    URLS.get_or_init(|| {
        let manifest = served().manifest();
        let url = |route: &str| format!("/ui/assets{}", manifest.get(route).unwrap_or(route));
        Assets { css: url("/ui.css"), js: url("/ui.js"), version: env!("CARGO_PKG_VERSION") }
    })
}

/// The policy of every `/ui` answer: nothing but this origin's own files, no inline script, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A page may carry a visitor's name and form token: no shared cache keeps one (the assets are cached
    // for good, by their hashed names).
    if headers.get(header::CONTENT_TYPE).is_some_and(|kind| kind.as_bytes().starts_with(b"text/html")) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
    response
}

/// A rendered page, as the page cache keeps it.
fn html(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn render(template: &impl Template) -> Result<Bytes, ApiError> {
    template.render().map(Bytes::from).map_err(|e| ApiError::Internal(e.into()))
}

/// The page `render` makes for the read `read` of `scope`: from the page cache under the content
/// generations the view depends on, as the API's reads are; else rendered now.
async fn cached_page<F>(
    state: &AppState,
    scope: &Scope,
    read: &[String],
    render: impl FnOnce() -> F,
) -> Result<Bytes, ApiError>
where
    F: Future<Output = Result<Bytes, ApiError>>,
{
    match (&state.pages, content_key(state, scope.registry(), read)) {
        (Some(pages), Some(key)) => Ok(pages.get_or_render(key, Encoding::Identity, render).await?.0),
        _ => render().await,
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    assets: &'a Assets,
    title: &'a str,
    detail: String,
    request_id: Option<String>,
}

fn error_page(status: StatusCode, title: &str, detail: String, request_id: Option<String>) -> Response {
    html(status, error_body(title, detail, request_id))
}

/// The error page's body.
fn error_body(title: &str, detail: String, request_id: Option<String>) -> Bytes {
    let page = ErrorPage { assets: asset_urls(), title, detail, request_id };
    // Rendering plain strings cannot fail; the title alone stands in if it ever did.
    page.render().map_or_else(|_| Bytes::from(title.to_owned()), Bytes::from)
}

fn not_found(detail: &str) -> Response {
    error_page(StatusCode::NOT_FOUND, "Not found", detail.to_owned(), None)
}

/// A failed page: its status with the layout, the request id for a 5xx (whose cause is logged).
fn failed(error: &ApiError, request_id: Option<String>) -> Response {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(error = %error, "a catalogue page failed");
        let detail = "The registry could not answer just now. Try again; if it keeps failing, give the \
                      operators this request id."
            .to_owned();
        return error_page(status, "Something went wrong", detail, request_id);
    }
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "Not allowed",
        _ => "Cannot show this",
    };
    error_page(status, title, error.to_string(), request_id)
}

/// The page of a write the API refused (its problem's status and detail): no role, a name outside the
/// caller's namespaces, no token.
async fn refused(response: Response, headers: &axum::http::HeaderMap) -> Response {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|problem| problem["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("refused").to_owned());
    error_page(status, "Not allowed", detail, request_id(headers))
}

fn request_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get(&REQUEST_ID).and_then(|id| id.to_str().ok()).map(str::to_owned)
}
