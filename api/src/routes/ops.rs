//! Probes and build information.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use registry_runtime::bootstrap::APPLY_COMMAND;
use registry_runtime::build_info::{BuildInfo, build_info};
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

/// Readiness: 503 from the moment shutdown begins; else 200 when the database answers within [`READINESS_BUDGET`] with a current schema and the
/// registry set has been read, else 503 saying why.
#[utoipa::path(
    get,
    path = "/readiness",
    tag = "ops",
    responses(
        (status = 200, body = StatusOut),
        (status = 503, description = "Shutting down, database unreachable, schema behind, or the registries not read yet", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readiness(State(state): State<AppState>) -> Result<Json<StatusOut>, ApiError> {
    check_ready(&state).await.map_err(ApiError::Unavailable)?;
    Ok(Json(StatusOut { status: "ready" }))
}

/// Why the API is not ready, or nothing; the public and the internal `/readiness` both answer from it.
pub async fn check_ready(state: &AppState) -> Result<(), String> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Err("shutting down: draining before it stops accepting".into());
    }
    let schema = tokio::time::timeout(READINESS_BUDGET, state.store.schema_state())
        .await
        .map_err(|_| "the database did not answer in time".to_owned())?
        .map_err(|e| {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            "the database does not answer".to_owned()
        })?;
    if !schema.is_current() {
        return Err(format!(
            "the database schema is behind ({} migrations pending): run `{APPLY_COMMAND}`",
            schema.pending.len()
        ));
    }
    if state.registries.current().is_none() {
        return Err("the stored registries have not been read yet".into());
    }
    Ok(())
}

/// The internal listener's readiness: the API's.
pub struct ApiReadiness(pub AppState);

impl registry_runtime::internal::Readiness for ApiReadiness {
    fn check(&self) -> registry_runtime::internal::Ready {
        let state = self.0.clone();
        Box::pin(async move { check_ready(&state).await })
    }
}

/// How long readiness waits for the database.
pub const READINESS_BUDGET: Duration = Duration::from_secs(1);

/// The running build.
#[utoipa::path(get, path = "/version", tag = "ops", responses((status = 200, body = BuildInfo)))]
pub async fn version() -> Json<BuildInfo> {
    Json(build_info())
}
