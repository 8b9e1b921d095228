//! The route table. Each resource module exports `router()`, or `router(prefix)` for the reads and writes,
//! which are mounted once per view.

mod docs;
pub mod exchanges;
pub mod lifecycle;
pub mod me;
pub mod ops;
pub mod probes;
pub mod publish;
pub mod registries;
pub mod servers;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;

use crate::error::problem;
use crate::state::AppState;

pub use docs::openapi;

/// The prefixes that serve the MCP Registry API v0.1 reads. `/v0.1` and `/v0` are aliases of the aggregated
/// view, so clients built for the official registry can use this host as their base URL.
pub const AGGREGATED_PREFIXES: [&str; 3] = ["/registry/v0.1", "/v0.1", "/v0"];
pub const PER_REGISTRY_PREFIX: &str = "/registry/{registryName}/v0.1";
/// The aliases that also take every write, on the publish registry (`publishRegistry`, or the only managed
/// one), as the official registry's clients expect.
pub const ROOT_WRITE_PREFIXES: [&str; 2] = ["/v0.1", "/v0"];

/// Each prefix's routes are written out whole rather than nested: a nested router costs every request a
/// copy of its path without the prefix and two more boxed services.
pub fn router() -> Router<AppState> {
    let writes = |prefix| publish::router(prefix).merge(lifecycle::router(prefix));
    let mut router = servers::router(PER_REGISTRY_PREFIX).merge(writes(PER_REGISTRY_PREFIX));
    for prefix in AGGREGATED_PREFIXES {
        router = router.merge(servers::router(prefix));
        if ROOT_WRITE_PREFIXES.contains(&prefix) {
            router = router.merge(writes(prefix));
        }
    }
    router
        .merge(registries::router())
        .merge(probes::router())
        .merge(me::router())
        .merge(exchanges::router())
        .merge(ops::router())
        .merge(crate::auth::metadata::router())
        .merge(docs::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    let detail = if path.starts_with("/v0") || path.starts_with("/registry") || path.starts_with("/extension")
    {
        "Endpoint not found. See /docs for the API documentation.".to_owned()
    } else {
        format!(
            "Endpoint not found. Did you mean /v0.1{path} or /v0{path}? See /docs for the API documentation."
        )
    };
    problem(StatusCode::NOT_FOUND, detail, Vec::new())
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    problem(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()), Vec::new())
}
