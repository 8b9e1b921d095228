//! HTTP caching of the registry reads. A read's `ETag` is computed from the content generations of the
//! registries its view depends on (the one registry, or for the aggregated view every registry in config
//! order) and from the request's path and query, so it changes whenever the answer may. A request whose
//! `If-None-Match` holds the current `ETag` is answered 304 by [`Validator`] before the handler runs, with
//! no database query. The generations are this replica's writes at once ([`reread_after_writes`]), other
//! replicas' within the notification delay, and within the poll interval at worst (see `registry_set`).

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use registry_shared::store::snapshot::hex;
use sha2::{Digest, Sha256};

use crate::auth::is_write;
use crate::state::AppState;

/// The caching headers of one read, taken by every read handler.
pub struct Validator {
    headers: HeaderMap,
}

impl Validator {
    /// `response` with the caching headers, when it is a 200.
    pub fn apply(self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        if response.status() == StatusCode::OK {
            response.headers_mut().extend(self.headers);
        }
        response
    }
}

impl FromRequestParts<AppState> for Validator {
    /// The 304.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let protected = state.authenticator.is_some() && !state.config.auth.public_reads;
        let mut headers = HeaderMap::new();
        let scope = if protected { "private" } else { "public" };
        let cache_control = format!("{scope}, max-age={}", state.config.cache.max_age.as_secs());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(&cache_control).unwrap_or(NO_CACHE));
        let vary = if protected { "Accept-Encoding, Authorization" } else { "Accept-Encoding" };
        headers.insert(header::VARY, HeaderValue::from_static(vary));
        let Some(etag) = etag(parts, state).await else { return Ok(Self { headers }) };
        let current = parts.headers.get_all(header::IF_NONE_MATCH).iter().any(|value| matches(value, &etag));
        headers.insert(header::ETAG, etag);
        if current {
            return Err((StatusCode::NOT_MODIFIED, headers).into_response());
        }
        Ok(Self { headers })
    }
}

const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The weak `ETag` of a read; `None` for a registry not served (the handler answers 404) and before the
/// generations are first read.
async fn etag(parts: &mut Parts, state: &AppState) -> Option<HeaderValue> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    let registry = params.iter().find(|(key, _)| *key == "registryName").map(|(_, raw)| raw.to_owned());
    let generations = state.registries.generations();
    if generations.is_empty() {
        return None;
    }
    let mut hasher = Sha256::new();
    let depends_on: Vec<_> = match &registry {
        Some(raw) => vec![generations.iter().find(|(name, _)| name.as_str() == raw)?],
        None => generations.iter().collect(),
    };
    for (name, generation) in depends_on {
        hasher.update(format!("{name}={generation};"));
    }
    hasher.update(parts.uri.path());
    hasher.update("?");
    hasher.update(parts.uri.query().unwrap_or_default());
    HeaderValue::from_str(&format!("W/\"{}\"", hex(&hasher.finalize()[..16]))).ok()
}

/// Whether an `If-None-Match` value names `etag`, by the weak comparison (RFC 9110 §13.1.2). `*` is not
/// taken: whether the resource exists is the handler's to say, after the database.
fn matches(value: &HeaderValue, etag: &HeaderValue) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let (Ok(value), Ok(etag)) = (value.to_str(), etag.to_str()) else { return false };
    value.split(',').any(|candidate| opaque(candidate) == opaque(etag))
}

/// After a write of this replica's succeeds, reads the generations again before answering, so that the
/// writer's next read sees its write (and no stale 304).
pub async fn reread_after_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let write = is_write(request.method(), request.uri().path());
    let response = next.run(request).await;
    if write && response.status().is_success() {
        state.registries.reread().await;
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
