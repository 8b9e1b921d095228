//! Publishing to a managed registry, and validating without storing: per registry, and at the root
//! (`/v0.1/publish`, `/v0/publish`, …) for the registry `publishRegistry` names or the only managed one, so
//! the official `mcp-publisher` can use this host as its registry ([`WriteTarget`] tells them apart).

use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use registry_core::model::{RegistryName, ServerDetail, ServerResponse};
use registry_core::registry::RegistryConfig;
use registry_core::validation::{Issue, IssueKind};
use registry_store::Inserted;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Principal, WriteAccess};
use crate::body::{JsonBody, MAX_BODY_BYTES};
use crate::error::{ApiError, Problem};
use crate::extract::WriteTarget;
use crate::state::AppState;

/// The routes under `prefix`: `/registry/{registryName}/v0.1` and the root write prefixes.
pub fn router(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(&format!("{prefix}/publish"), post(publish_server))
        .route(&format!("{prefix}/validate"), post(validate_server))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The result of `/validate`: `valid` is false when any issue is an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationOut {
    pub valid: bool,
    pub issues: Vec<Issue>,
}

/// Publish a new version to a managed registry.
#[utoipa::path(
    post,
    path = "/registry/{registryName}/v0.1/publish",
    tag = "publish",
    params(("registryName" = String, Path, description = "A managed registry")),
    request_body(content = ServerDetail, description = "One server.json (at most 1 MiB)"),
    responses(
        (status = 201, description = "Published; `Location` is the version's URL", body = ServerResponse),
        (status = 200, description = "This document was published as this version already (a retry): nothing was written", body = ServerResponse),
        (status = 400, description = "The body is empty or not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The registry is not managed, the caller lacks the manageEntries role, or the name is outside its namespaces", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version exists with another document, a remote URL is taken, or the server has 10,000 versions", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The server.json breaks a rule; `errors` lists each with its location", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn publish_server(
    State(state): State<AppState>,
    access: WriteAccess,
    WriteTarget(registry): WriteTarget,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (Inserted { record, created }, warnings) = publish(&state, &access, &registry, body.value()?).await?;
    let (name, version) = (record.name.as_str(), record.version.as_str());
    tracing::info!(
        registry.name = %registry.name,
        server.name = name,
        server.version = version,
        warnings = warnings.len(),
        created,
        "server version published"
    );
    let location = version_url(&registry.name, name, version);
    // A retry that finds its own document stored gets the same answer, as 200: nothing new was made.
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, [(header::LOCATION, location)], Json(record)).into_response())
}

/// Publishes one server.json into `registry`, when its name is inside the caller's namespaces: what the API's
/// and the web catalogue's publish do.
pub async fn publish(
    state: &AppState,
    access: &WriteAccess,
    registry: &RegistryConfig,
    document: serde_json::Value,
) -> Result<(Inserted, Vec<Issue>), ApiError> {
    // A document without a string name fails the publish validation (422) and stores nothing.
    if let Some(name) = document.get("name").and_then(serde_json::Value::as_str) {
        access.check_target(name, document.get("version").and_then(serde_json::Value::as_str))?;
    }
    Ok(state.publisher().publish(registry, document).await?)
}

/// Run every publish check on a server.json without storing it. Always 200 for a managed registry. At the
/// root aliases (`/v0/validate`), which the publisher CLI calls without a token, it needs none: a caller
/// without one, in oauth mode, gets the document's checks only, not the conflicts with the registry's data.
#[utoipa::path(
    post,
    path = "/registry/{registryName}/v0.1/validate",
    tag = "publish",
    params(("registryName" = String, Path, description = "A managed registry")),
    request_body(content = ServerDetail, description = "One server.json (at most 1 MiB)"),
    responses(
        (status = 200, description = "The issues found; `valid` when none is an error", body = ValidationOut),
        (status = 403, description = "The registry is not managed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn validate_server(
    State(state): State<AppState>,
    WriteTarget(registry): WriteTarget,
    principal: Option<Extension<Principal>>,
    body: JsonBody,
) -> Result<Json<ValidationOut>, ApiError> {
    let knows_the_data = principal.is_some() || state.authenticator.is_none();
    let issues = match body.0 {
        Ok(document) if knows_the_data => state.publisher().check(&registry, &document).await?,
        Ok(document) => state.publisher().check_document(&registry, &document).await?,
        Err(e) => vec![Issue::error(IssueKind::Json, "", format!("the body is not valid JSON: {e}"))],
    };
    Ok(Json(ValidationOut { valid: !issues.iter().any(Issue::is_error), issues }))
}

/// `/registry/{registry}/v0.1/servers/{name}/versions/{version}`, each part percent-encoded.
fn version_url(registry: &RegistryName, name: &str, version: &str) -> String {
    format!("/registry/{registry}/v0.1/servers/{}/versions/{}", encode_segment(name), encode_segment(version))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so `/` and `+` survive as data.
fn encode_segment(raw: &str) -> String {
    let mut encoded = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
