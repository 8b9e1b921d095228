//! Probes and build information.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use registry_shared::build_info::{BuildInfo, build_info};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/readiness", get(readiness))
        .route("/version", get(version))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOut {
    pub status: &'static str,
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = StatusOut)))]
pub async fn health() -> Json<StatusOut> {
    Json(StatusOut { status: "ok" })
}

/// Readiness: 200 when the database answers, its schema is up to date and it holds the configured
/// registries, else 503 saying why.
#[utoipa::path(
    get,
    path = "/readiness",
    tag = "ops",
    responses(
        (status = 200, body = StatusOut),
        (status = 503, description = "Database unreachable, schema behind, or registries not stored as configured", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readiness(State(state): State<AppState>) -> Result<Json<StatusOut>, ApiError> {
    let schema = state.store.schema_state().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: the database does not answer");
        ApiError::Unavailable(format!("the database does not answer: {e}"))
    })?;
    if !schema.is_current() {
        return Err(ApiError::Unavailable(format!(
            "the database schema is behind ({} migrations pending): run `registry-admin migrate --config <file>`",
            schema.pending.len()
        )));
    }
    let stored = state.store.list_registries().await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if !stored.iter().map(|r| &r.name).eq(state.config.registries.iter().map(|r| &r.name)) {
        return Err(ApiError::Unavailable(
            "the stored registries do not match the configuration yet: storing them is still running or \
             failing, and the log says why"
                .into(),
        ));
    }
    Ok(Json(StatusOut { status: "ready" }))
}

/// The running build.
#[utoipa::path(get, path = "/version", tag = "ops", responses((status = 200, body = BuildInfo)))]
pub async fn version() -> Json<BuildInfo> {
    Json(build_info())
}
