//! The MCP Registry API v0.1 reads. The same router is mounted for the aggregated view and per registry;
//! [`RegistryScope`] tells the handlers which one they serve.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use registry_core::model::{ListMetadata, ServerList, ServerResponse};
use registry_store::{StoredVersion, VersionSelector};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, IncludeDeleted, ListParams, RegistryScope};
use crate::http_cache::{Validator, json_body, json_body_sized};
use crate::state::AppState;

/// The reads under `prefix`.
pub fn router(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(&format!("{prefix}/servers"), get(list_servers))
        .route(&format!("{prefix}/servers/{{serverName}}/versions"), get(list_server_versions))
        .route(&format!("{prefix}/servers/{{serverName}}/versions/{{version}}"), get(get_server_version))
}

/// `{serverName}` in a path (under any prefix: other parameters are ignored).
#[derive(Deserialize)]
pub struct ServerPath {
    #[serde(rename = "serverName")]
    pub server_name: String,
}

/// `{serverName}` and `{version}` in a path.
#[derive(Deserialize)]
pub struct VersionPath {
    #[serde(rename = "serverName")]
    pub server_name: String,
    pub version: String,
}

pub fn server_not_found() -> ApiError {
    ApiError::NotFound("Server not found".into())
}

/// A `ServerList` of versions as stored: their bodies are written out unparsed.
#[derive(Serialize)]
struct StoredList {
    servers: Vec<StoredVersion>,
    metadata: ListMetadata,
}

impl StoredList {
    fn new(servers: Vec<StoredVersion>, next_cursor: Option<String>) -> Self {
        Self { metadata: ListMetadata { next_cursor, count: servers.len() }, servers }
    }

    /// The page's JSON. Each version takes its body's bytes and about 250 more for its metadata.
    fn body(&self) -> Result<Bytes, ApiError> {
        let estimate = self.servers.iter().map(|server| server.body.get().len() + 256).sum::<usize>() + 256;
        json_body_sized(self, estimate)
    }
}

/// List servers: one page, ordered by name then version.
#[utoipa::path(
    get,
    path = "/registry/v0.1/servers",
    tag = "servers",
    params(ListParams),
    responses(
        (status = 200, description = "A page of server versions", body = ServerList),
        (status = 304, description = "Not modified: `If-None-Match` holds the current `ETag`"),
        (status = 400, description = "Malformed cursor or updated_since", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or include_deleted", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_servers(
    State(state): State<AppState>,
    RegistryScope(scope): RegistryScope,
    params: ListParams,
    validator: Validator,
) -> Result<Response, ApiError> {
    let query = params.into_query(scope)?;
    let store = &state.store;
    let render = move || async move {
        let page = store.list_servers(&query).await?;
        StoredList::new(page.items, page.next_cursor.map(|c| c.encode())).body()
    };
    validator.respond(&state, render).await
}

/// Every version of one server, newest publish first.
#[utoipa::path(
    get,
    path = "/registry/v0.1/servers/{serverName}/versions",
    tag = "servers",
    params(("serverName" = String, Path, description = "URL-encoded server name, e.g. io.github.user%2Fweather"), IncludeDeleted),
    responses(
        (status = 200, description = "All versions of the server", body = ServerList),
        (status = 304, description = "Not modified: `If-None-Match` holds the current `ETag`"),
        (status = 404, description = "Server not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid include_deleted", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_server_versions(
    State(state): State<AppState>,
    RegistryScope(scope): RegistryScope,
    ApiPath(path): ApiPath<ServerPath>,
    params: IncludeDeleted,
    validator: Validator,
) -> Result<Response, ApiError> {
    let include_deleted = params.include_deleted.unwrap_or(false);
    let store = &state.store;
    let render = move || async move {
        let versions = store.list_versions(&scope, &path.server_name, include_deleted).await?;
        if versions.is_empty() {
            return Err(server_not_found());
        }
        StoredList::new(versions, None).body()
    };
    validator.respond(&state, render).await
}

/// One version of a server; `latest` names the latest one.
#[utoipa::path(
    get,
    path = "/registry/v0.1/servers/{serverName}/versions/{version}",
    tag = "servers",
    params(
        ("serverName" = String, Path, description = "URL-encoded server name, e.g. io.github.user%2Fweather"),
        ("version" = String, Path, description = "URL-encoded version (`+` as %2B), or `latest`"),
        IncludeDeleted,
    ),
    responses(
        (status = 200, description = "The version", body = ServerResponse),
        (status = 304, description = "Not modified: `If-None-Match` holds the current `ETag`"),
        (status = 404, description = "Server not found", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid include_deleted", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_server_version(
    State(state): State<AppState>,
    RegistryScope(scope): RegistryScope,
    ApiPath(path): ApiPath<VersionPath>,
    params: IncludeDeleted,
    validator: Validator,
) -> Result<Response, ApiError> {
    let selector = VersionSelector::parse(&path.version);
    let include_deleted = params.include_deleted.unwrap_or(false);
    let store = &state.store;
    let render = move || async move {
        let record = store.get_version(&scope, &path.server_name, &selector, include_deleted).await?;
        json_body(&record.ok_or_else(server_not_found)?)
    };
    validator.respond(&state, render).await
}
