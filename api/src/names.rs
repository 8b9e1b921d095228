//! Names that several layers share: the request-id header (set by the middleware, read by the audit trail
//! and by sync requests) and where the docs page lives (served by its route, kept by the URL rules).

use axum::http::HeaderName;

/// The header that carries a request's id, echoed or made.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Where the registry's MCP endpoint lives: a read, whatever its method.
pub const MCP_PATH: &str = "/mcp";

/// The MCP request headers a browser client sends to `/mcp` (2025-06-18 on), which CORS must allow.
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// Sent by clients of the handshake era; `/mcp` keeps no sessions, but a browser client must not be refused
/// for sending it.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// Where Swagger UI lives; `/docs` redirects to it.
pub const DOCS_PATH: &str = "/docs/";
