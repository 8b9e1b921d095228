//! The lifecycle of published versions in a managed registry: status changes (the official rules) for one
//! version or all of a server's versions, deletion, and an admin's edit of a version.

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{patch, put};
use axum::{Json, Router};
use registry_core::model::envelope::STATUS_MESSAGE_MAX;
use registry_core::model::{ServerDetail, ServerName, ServerResponse, Status, Version};
use registry_runtime::config::RegistryConfig;
use registry_store::{Scope, StatusUpdate, StoredVersion, VersionSelector};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::servers::{ServerPath, VersionPath, server_not_found};
use crate::auth::WriteAccess;
use crate::body::{JsonBody, MAX_BODY_BYTES};
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{ApiPath, WriteTarget};
use crate::state::AppState;

/// The routes under `prefix`: `/registry/{registryName}/v0.1` and the root write prefixes.
pub fn router(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(
            &format!("{prefix}/servers/{{serverName}}/versions/{{version}}"),
            put(edit_server_version).delete(delete_server_version),
        )
        .route(
            &format!("{prefix}/servers/{{serverName}}/versions/{{version}}/status"),
            patch(update_version_status),
        )
        .route(&format!("{prefix}/servers/{{serverName}}/status"), patch(update_server_status))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusIn {
    pub status: Status,
    /// Why; at most 500 characters, and not with `active`.
    pub status_message: Option<String>,
}

/// The result of a status change on all versions of a server.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdateOut {
    /// How many versions changed.
    pub updated_count: usize,
    /// Every version of the server as stored now, newest publish first.
    #[schema(value_type = Vec<ServerResponse>)]
    pub servers: Vec<StoredVersion>,
}

/// A server name from the path; one that cannot exist is not found.
fn server_name(raw: &str) -> Result<ServerName, ApiError> {
    ServerName::parse(raw).map_err(|_| server_not_found())
}

fn version(raw: &str) -> Result<Version, ApiError> {
    Version::parse(raw).map_err(|_| version_not_found())
}

/// Replace a published version's server.json (superAdmin only: versions are otherwise immutable). Its
/// status, `publishedAt` and `isLatest` stay; `updatedAt` moves.
#[utoipa::path(
    put,
    path = "/registry/{registryName}/v0.1/servers/{serverName}/versions/{version}",
    tag = "publish",
    params(
        ("registryName" = String, Path, description = "A managed registry"),
        ("serverName" = String, Path, description = "URL-encoded server name"),
        ("version" = String, Path, description = "URL-encoded exact version"),
    ),
    request_body(content = ServerDetail, description = "The whole new server.json, with the same name and version (at most 1 MiB)"),
    responses(
        (status = 200, description = "The version as stored now", body = ServerResponse),
        (status = 400, description = "The body is not JSON, or its name or version differs from the path", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The registry is not managed, the caller is not a superAdmin, or the name is outside its namespaces", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry, or no such version (a deleted one included)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A remote URL is taken by another server", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The server.json breaks a publish rule; `errors` lists each with its location", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn edit_server_version(
    State(state): State<AppState>,
    access: WriteAccess,
    WriteTarget(registry): WriteTarget,
    ApiPath(path): ApiPath<VersionPath>,
    body: JsonBody,
) -> Result<Json<StoredVersion>, ApiError> {
    let (name, version) = (server_name(&path.server_name)?, version(&path.version)?);
    access.check_target(name.as_str(), Some(version.as_str()))?;
    let scope = Scope::Registry(registry.name.clone());
    let exact = VersionSelector::Exact(version.to_string());
    if state.store.get_version(&scope, name.as_str(), &exact, false).await?.is_none() {
        return Err(version_not_found());
    }
    let document = body.value()?;
    let field = |key: &str| document.get(key).and_then(Value::as_str);
    if field("name").is_some_and(|body_name| body_name != name.as_str()) {
        return Err(ApiError::BadRequest(
            "Cannot rename server: the name in the body differs from the path".into(),
        ));
    }
    if field("version").is_some_and(|body_version| body_version != version.as_str()) {
        return Err(ApiError::BadRequest("The version in the body differs from the path".into()));
    }
    let (record, warnings) = state.publisher().edit(&registry, document).await?;
    let record = record.ok_or_else(version_not_found)?;
    tracing::info!(
        registry.name = %registry.name,
        server.name = %name,
        server.version = %version,
        warnings = warnings.len(),
        "server version edited"
    );
    Ok(Json(record))
}

/// Delete a version for good. It can then be published again. Prefer a status of `deleted` to retire a
/// version visibly: mirrors that follow `updated_since` never learn of a deletion.
#[utoipa::path(
    delete,
    path = "/registry/{registryName}/v0.1/servers/{serverName}/versions/{version}",
    tag = "publish",
    params(
        ("registryName" = String, Path, description = "A managed registry"),
        ("serverName" = String, Path, description = "URL-encoded server name"),
        ("version" = String, Path, description = "URL-encoded exact version"),
    ),
    responses(
        (status = 200, description = "Deleted; the version as it was stored", body = ServerResponse),
        (status = 403, description = "The registry is not managed, the caller lacks the manageEntries role, or the name is outside its namespaces", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry or version", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_server_version(
    State(state): State<AppState>,
    access: WriteAccess,
    WriteTarget(registry): WriteTarget,
    ApiPath(path): ApiPath<VersionPath>,
) -> Result<Json<StoredVersion>, ApiError> {
    let (name, version) = (server_name(&path.server_name)?, version(&path.version)?);
    access.check_target(name.as_str(), Some(version.as_str()))?;
    let deleted = state.store.delete_version(&registry.name, name.as_str(), version.as_str()).await?;
    let deleted = deleted.ok_or_else(version_not_found)?;
    tracing::info!(registry.name = %registry.name, server.name = %name, server.version = %version, "server version deleted");
    Ok(Json(deleted))
}

/// Set the status of one version. A deleted version can be restored.
#[utoipa::path(
    patch,
    path = "/registry/{registryName}/v0.1/servers/{serverName}/versions/{version}/status",
    tag = "publish",
    params(
        ("registryName" = String, Path, description = "A managed registry"),
        ("serverName" = String, Path, description = "URL-encoded server name"),
        ("version" = String, Path, description = "URL-encoded exact version"),
    ),
    request_body = StatusIn,
    responses(
        (status = 200, description = "The version as stored now", body = ServerResponse),
        (status = 400, description = "No change, or a message with `active`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The registry is not managed, the caller lacks the manageEntries role, or the name is outside its namespaces", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Restoring it would reuse a remote URL another server now has", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status or message", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_version_status(
    State(state): State<AppState>,
    access: WriteAccess,
    WriteTarget(registry): WriteTarget,
    ApiPath(path): ApiPath<VersionPath>,
    body: JsonBody,
) -> Result<Json<StoredVersion>, ApiError> {
    let (name, version) = (server_name(&path.server_name)?, version(&path.version)?);
    access.check_target(name.as_str(), Some(version.as_str()))?;
    let change = status_in(body.value()?)?;
    let update = apply(&state, &registry, &name, Some(&version), &change).await?;
    if update.updated == 0 {
        return Err(ApiError::BadRequest(
            "No changes to apply: status and message are already set to the provided values".into(),
        ));
    }
    let version = update.versions.into_iter().next();
    version.map(Json).ok_or_else(version_not_found)
}

/// Set the status of every version of a server, in one transaction.
#[utoipa::path(
    patch,
    path = "/registry/{registryName}/v0.1/servers/{serverName}/status",
    tag = "publish",
    params(
        ("registryName" = String, Path, description = "A managed registry"),
        ("serverName" = String, Path, description = "URL-encoded server name"),
    ),
    request_body = StatusIn,
    responses(
        (status = 200, description = "How many versions changed, and every version as stored now", body = StatusUpdateOut),
        (status = 400, description = "No change, or a message with `active`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The registry is not managed, the caller lacks the manageEntries role, or the name is outside its namespaces", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry or server", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A restored version's remote URL is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status or message", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_server_status(
    State(state): State<AppState>,
    access: WriteAccess,
    WriteTarget(registry): WriteTarget,
    ApiPath(path): ApiPath<ServerPath>,
    body: JsonBody,
) -> Result<Json<StatusUpdateOut>, ApiError> {
    let name = server_name(&path.server_name)?;
    access.check_target(name.as_str(), None)?;
    let change = status_in(body.value()?)?;
    let update = apply(&state, &registry, &name, None, &change).await?;
    if update.updated == 0 {
        return Err(ApiError::BadRequest(
            "No changes to apply: all versions already have the requested status and message".into(),
        ));
    }
    Ok(Json(StatusUpdateOut { updated_count: update.updated, servers: update.versions }))
}

async fn apply(
    state: &AppState,
    registry: &RegistryConfig,
    name: &ServerName,
    version: Option<&Version>,
    change: &StatusIn,
) -> Result<StatusUpdate, ApiError> {
    let (status, message) = (change.status, change.status_message.as_deref());
    let version = version.map(Version::as_str);
    let update = state.store.set_status(&registry.name, name.as_str(), version, status, message).await?;
    let update = update.ok_or_else(|| match version {
        Some(_) => version_not_found(),
        None => server_not_found(),
    })?;
    tracing::info!(
        registry.name = %registry.name,
        server.name = %name,
        server.version = version.unwrap_or("*"),
        status = %status,
        updated = update.updated,
        "status changed"
    );
    Ok(update)
}

fn version_not_found() -> ApiError {
    ApiError::NotFound("Server version not found".into())
}

/// Reads a status change, reporting every problem with its location.
fn status_in(body: Value) -> Result<StatusIn, ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::Validation(vec![field_error("body", "expected object")]));
    };
    let mut errors: Vec<FieldError> = fields
        .keys()
        .filter(|key| !matches!(key.as_str(), "status" | "statusMessage"))
        .map(|key| field_error(&format!("body.{key}"), "unexpected property"))
        .collect();
    let status = match fields.get("status") {
        Some(Value::String(raw)) => {
            raw.parse::<Status>().map_err(|e| errors.push(field_error("body.status", &e.to_string()))).ok()
        }
        Some(_) => {
            errors.push(field_error("body.status", "expected string"));
            None
        }
        None => {
            errors.push(field_error("body", "expected required property status to be present"));
            None
        }
    };
    let status_message = match fields.get("statusMessage") {
        None | Some(Value::Null) => None,
        Some(Value::String(message)) if message.chars().count() > STATUS_MESSAGE_MAX => {
            errors
                .push(field_error("body.statusMessage", &format!("expected length <= {STATUS_MESSAGE_MAX}")));
            None
        }
        Some(Value::String(message)) => Some(message.clone()),
        Some(_) => {
            errors.push(field_error("body.statusMessage", "expected string"));
            None
        }
    };
    match status {
        Some(status) if errors.is_empty() => {
            if status == Status::Active && status_message.is_some() {
                return Err(ApiError::BadRequest(
                    "statusMessage cannot be provided when setting status to active".into(),
                ));
            }
            Ok(StatusIn { status, status_message })
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

fn field_error(location: &str, message: &str) -> FieldError {
    FieldError { location: location.to_owned(), message: message.to_owned(), value: None }
}
