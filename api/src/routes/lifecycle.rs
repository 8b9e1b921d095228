//! The lifecycle of published versions in a managed registry: status changes (the official rules) for one
//! version or all of a server's versions, and deletion.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{delete, patch};
use axum::{Json, Router};
use registry_shared::config::RegistryConfig;
use registry_shared::model::envelope::STATUS_MESSAGE_MAX;
use registry_shared::model::{ServerName, ServerResponse, Status, Version};
use registry_shared::publish::ensure_managed;
use registry_shared::store::StatusUpdate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::servers::{ServerPath, VersionPath, server_not_found};
use crate::auth::WriteAccess;
use crate::body::{JsonBody, MAX_BODY_BYTES};
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{ApiPath, RegistryPath, stored_registry};
use crate::state::AppState;

/// The routes under `/registry/{registryName}/v0.1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/servers/{serverName}/versions/{version}", delete(delete_server_version))
        .route("/servers/{serverName}/versions/{version}/status", patch(update_version_status))
        .route("/servers/{serverName}/status", patch(update_server_status))
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
    pub servers: Vec<ServerResponse>,
}

/// The registry a write names: stored (else 404) and managed (else 403).
fn managed_registry(state: &AppState, raw: &str) -> Result<RegistryConfig, ApiError> {
    let registry = stored_registry(state, raw)?;
    ensure_managed(&registry)?;
    Ok(registry)
}

/// A server name from the path; one that cannot exist is not found.
fn server_name(raw: &str) -> Result<ServerName, ApiError> {
    ServerName::parse(raw).map_err(|_| server_not_found())
}

fn version(raw: &str) -> Result<Version, ApiError> {
    Version::parse(raw).map_err(|_| version_not_found())
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
        (status = 204, description = "Deleted"),
        (status = 401, description = "Writes need authentication", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The registry is not managed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry or version", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_server_version(
    State(state): State<AppState>,
    access: WriteAccess,
    ApiPath(RegistryPath { registry_name }): ApiPath<RegistryPath>,
    ApiPath(path): ApiPath<VersionPath>,
) -> Result<StatusCode, ApiError> {
    let registry = managed_registry(&state, &registry_name)?;
    let (name, version) = (server_name(&path.server_name)?, version(&path.version)?);
    access.check_name(name.as_str())?;
    if !state.store.delete_version(&registry.name, name.as_str(), version.as_str()).await? {
        return Err(version_not_found());
    }
    tracing::info!(registry.name = %registry.name, server.name = path.server_name, server.version = path.version, "server version deleted");
    Ok(StatusCode::NO_CONTENT)
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
        (status = 403, description = "The registry is not managed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry or version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Restoring it would reuse a remote URL another server now has", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status or message", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_version_status(
    State(state): State<AppState>,
    access: WriteAccess,
    ApiPath(RegistryPath { registry_name }): ApiPath<RegistryPath>,
    ApiPath(path): ApiPath<VersionPath>,
    body: JsonBody,
) -> Result<Json<ServerResponse>, ApiError> {
    let registry = managed_registry(&state, &registry_name)?;
    let (name, version) = (server_name(&path.server_name)?, version(&path.version)?);
    access.check_name(name.as_str())?;
    let change = status_in(body.value()?)?;
    let update = apply(&state, &registry, &name, Some(&version), &change).await?;
    if update.updated == 0 {
        return Err(ApiError::BadRequest(
            "No changes to apply: status and message are already set to the provided values".into(),
        ));
    }
    let version = update.versions.into_iter().next();
    version.map(|record| Json(record.into_response())).ok_or_else(version_not_found)
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
        (status = 403, description = "The registry is not managed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry or server", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A restored version's remote URL is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status or message", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_server_status(
    State(state): State<AppState>,
    access: WriteAccess,
    ApiPath(RegistryPath { registry_name }): ApiPath<RegistryPath>,
    ApiPath(path): ApiPath<ServerPath>,
    body: JsonBody,
) -> Result<Json<StatusUpdateOut>, ApiError> {
    let registry = managed_registry(&state, &registry_name)?;
    let name = server_name(&path.server_name)?;
    access.check_name(name.as_str())?;
    let change = status_in(body.value()?)?;
    let update = apply(&state, &registry, &name, None, &change).await?;
    if update.updated == 0 {
        return Err(ApiError::BadRequest(
            "No changes to apply: all versions already have the requested status and message".into(),
        ));
    }
    let servers = update.versions.into_iter().map(|record| record.into_response()).collect();
    Ok(Json(StatusUpdateOut { updated_count: update.updated, servers }))
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
