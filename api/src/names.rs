//! Names that several layers share: the request-id header (set by the middleware, read by the audit trail
//! and by sync requests) and where the docs page lives (served by its route, kept by the URL rules).

use axum::http::HeaderName;

/// The header that carries a request's id, echoed or made.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Where Swagger UI lives; `/docs` redirects to it.
pub const DOCS_PATH: &str = "/docs/";
