//! HTTP caching of the registry reads. A read's `ETag` is computed from the content generations of the
//! registries its view depends on (the one registry, or for the aggregated view every registry in config
//! order), from the database's identity, from the build, and from the request's path and the query
//! parameters the read takes, so it changes whenever the answer may. A
//! request whose `If-None-Match` holds the current `ETag` is answered 304 by [`Validator`] before the
//! handler runs, with no database query; any other is answered through the page cache, under the same key.
//! The generations are this replica's writes at once ([`reread_after_writes`]), other replicas' within the
//! notification delay, and within the poll interval at worst (see `registry_set`). They are read before the
//! data: the other order could keep an old answer under a new key.

use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use registry_core::digest::hex_into;
use registry_core::model::RegistryName;
use registry_runtime::build_info::build_info;
use registry_runtime::config::CacheConfig;
use sha2::{Digest, Sha256};

use crate::auth::is_write;
use crate::error::ApiError;
use crate::extract::{first, query_pairs};
use crate::page_cache::{Encoding, Key};
use crate::state::AppState;

/// The caching of one read, taken by every read handler: its `ETag`, and its key in the page cache.
pub struct Validator {
    etag: Option<HeaderValue>,
    key: Option<Key>,
    encoding: Encoding,
}

impl Validator {
    /// The 200 answer of a read whose JSON body `render` produces: from the page cache when the read has a
    /// key and the cache is on, else rendered now. An error of `render` is the answer, and nothing is kept.
    /// `render` is called only when the body is rendered, so a hit never builds its (large) future.
    pub async fn respond<F: Future<Output = Result<Bytes, ApiError>>>(
        self,
        state: &AppState,
        render: impl FnOnce() -> F,
    ) -> Result<Response, ApiError> {
        let (body, source) = match (&state.pages, self.key) {
            (Some(pages), Some(key)) => {
                let (body, source) = pages.get_or_render(key, self.encoding, render).await?;
                (body, Some(source.header()))
            }
            (Some(_), None) => (Box::pin(render()).await?, Some(HeaderValue::from_static("bypass"))),
            (None, _) => (Box::pin(render()).await?, None),
        };
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        // Room for every header the layers add on the way out (CORS, the request id, the rate limit's,
        // Content-Length), so the map is not grown and rehashed on the way.
        headers.reserve(RESPONSE_HEADERS);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(source) = source {
            headers.insert(X_CACHE, source);
            if let Some(encoding) = self.encoding.header() {
                headers.insert(header::CONTENT_ENCODING, encoding);
            }
        }
        caching_headers(state, self.etag, headers);
        Ok(response)
    }
}

/// The `Cache-Control`, `Vary` and `ETag` of a 200 or a 304. The `ETag` is moved, not copied: a copy of a
/// value made from bytes allocates.
fn caching_headers(state: &AppState, etag: Option<HeaderValue>, headers: &mut HeaderMap) {
    for (name, value) in &state.read_headers {
        headers.insert(name.clone(), value.clone());
    }
    if let Some(etag) = etag {
        headers.insert(header::ETAG, etag);
    }
}

/// About how many headers a read's 200 carries when it leaves the stack.
const RESPONSE_HEADERS: usize = 16;

/// Where a read's answer came from: `hit-memory`, `hit-redis`, `miss` (this request read the database),
/// `coalesced` (it waited for a concurrent request's read) or `bypass` (not cached: before the generations
/// are first read). Absent when `cache.enabled` is false.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// A JSON body, rendered once for the page cache.
pub fn json_body(value: &impl serde::Serialize) -> Result<Bytes, ApiError> {
    json_body_sized(value, 128)
}

/// [`json_body`] into a buffer of `capacity` bytes to start with: a page that knows about how large it is
/// is written without growing (and copying) its buffer again and again.
pub fn json_body_sized(value: &impl serde::Serialize, capacity: usize) -> Result<Bytes, ApiError> {
    let mut body = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut body, value).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(body.into())
}

impl FromRequestParts<AppState> for Validator {
    /// The 304.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let encoding = Encoding::preferred(&parts.headers);
        let Some(key) = key(parts, state).await else { return Ok(Self { etag: None, key: None, encoding }) };
        let etag = etag(key);
        let current = parts.headers.get_all(header::IF_NONE_MATCH).iter().any(|value| matches(value, &etag));
        if current {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            caching_headers(state, Some(etag), response.headers_mut());
            return Err(response);
        }
        Ok(Self { etag: Some(etag), key: Some(key), encoding })
    }
}

/// The weak `ETag` that shows `key`: `W/"` and 32 hex digits and `"`.
fn etag(key: Key) -> HeaderValue {
    let mut text = *b"W/\"00000000000000000000000000000000\"";
    hex_into(&key.0, &mut text[3..35]);
    HeaderValue::from_bytes(&text).unwrap_or(NO_CACHE)
}

const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The `Cache-Control` and `Vary` of every read's 200 and 304. The configuration fixes them, so they are
/// made once: `private` and `Vary: Authorization` when reads need a token (`protected`).
pub fn read_headers(cache: &CacheConfig, protected: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let scope = if protected { "private" } else { "public" };
    let cache_control = format!("{scope}, max-age={}", cache.max_age.as_secs());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(&cache_control).unwrap_or(NO_CACHE));
    let vary = if protected { "Accept-Encoding, Authorization" } else { "Accept-Encoding" };
    headers.insert(header::VARY, HeaderValue::from_static(vary));
    headers
}

/// The query parameters the reads take.
const PARAMETERS: [&str; 6] = ["cursor", "limit", "search", "version", "updated_since", "include_deleted"];

/// The key of a read, which its weak `ETag` shows; `None` for a registry not served (the handler answers
/// 404) and before the generations are first read.
async fn key(parts: &mut Parts, state: &AppState) -> Option<Key> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    let registry = params.iter().find(|(key, _)| *key == "registryName").map(|(_, raw)| raw);
    // The whole path, which names the view (the routes are not nested: see `routes::router`).
    let mut read = [""; 1 + 2 * PARAMETERS.len()];
    read[0] = parts.uri.path();
    let mut len = 1;
    // The parameters as the reads take them, so unknown ones, repeats and spellings make no new entries.
    let pairs = query_pairs(parts);
    for name in PARAMETERS {
        if let Some(value) = first(&pairs, name) {
            read[len] = name;
            read[len + 1] = value;
            len += 2;
        }
    }
    content_key(state, registry, &read[..len])
}

/// The key of a read of `registry` (every registry when `None`) described by `read`'s parts: the content
/// generations it depends on, the database's identity, the build, and the parts. `None` for a registry not
/// served and before the generations are first read. The REST reads and the MCP tools key the page cache
/// with it.
pub fn content_key(state: &AppState, registry: Option<&str>, read: &[impl AsRef<str>]) -> Option<Key> {
    let generations = state.registries.generations();
    if generations.is_empty() {
        return None;
    }
    let mut hasher = Sha256::new();
    // Generation numbers are unique within one database only.
    hasher.update(state.registries.instance()?.as_bytes());
    hasher.update(";");
    let mut depends_on =
        generations.iter().filter(|(name, _)| registry.is_none_or(|raw| name.as_str() == raw));
    let mut generation = |(name, generation): &(RegistryName, i64)| {
        hasher.update(name.as_str());
        hasher.update("=");
        hasher.update(generation.to_le_bytes());
        hasher.update(";");
    };
    match registry {
        Some(_) => generation(depends_on.next()?),
        None => depends_on.for_each(generation),
    }
    // Another build may render the same data differently.
    hasher.update(BUILD.as_bytes());
    // Each part after its length, so no two reads hash the same bytes.
    for part in read {
        let part = part.as_ref();
        hasher.update(part.len().to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let mut key = [0; 16];
    key.copy_from_slice(&hasher.finalize()[..16]);
    Some(Key(key))
}

/// The build, as the key takes it.
static BUILD: LazyLock<String> = LazyLock::new(|| {
    let build = build_info();
    format!("{}+{};", build.version, build.git_commit)
});

/// Whether an `If-None-Match` value names `etag`, by the weak comparison (RFC 9110 §13.1.2). `*` is not
/// taken: whether the resource exists is the handler's to say, after the database.
fn matches(value: &HeaderValue, etag: &HeaderValue) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let (Ok(value), Ok(etag)) = (value.to_str(), etag.to_str()) else { return false };
    value.split(',').any(|candidate| opaque(candidate) == opaque(etag))
}

/// After a write of this replica's succeeds, reads the generations again before answering, so that the
/// writer's next read sees its write (and no stale 304).
pub async fn reread_after_writes<F: Future<Output = Response>>(
    state: &AppState,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let write = is_write(request.method(), request.uri().path());
    let response = next(request).await;
    if write && response.status().is_success() {
        // Boxed: a read's future would otherwise carry room for the store's query (see `pipeline`).
        Box::pin(state.registries.reread()).await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let etag = HeaderValue::from_static("W/\"abc\"");
        for value in ["W/\"abc\"", "\"abc\"", "\"x\", W/\"abc\""] {
            assert!(matches(&HeaderValue::from_static(value), &etag), "{value}");
        }
        for value in ["W/\"abd\"", "\"ab\"", "", "*"] {
            assert!(!matches(&HeaderValue::from_static(value), &etag), "{value}");
        }
    }
}
