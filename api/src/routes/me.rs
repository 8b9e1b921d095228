//! `GET /extension/v0/me`: the caller as the registry sees it, so that operators can debug claim rules.

use axum::extract::{Extension, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::authz::{Grants, Role};
use crate::auth::{Principal, auth_is_off};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/extension/v0/me", get(get_me))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeOut {
    /// The configured name of the provider that issued the token.
    pub provider: String,
    pub subject: Option<String>,
    pub roles: Vec<Role>,
    /// The server name patterns the caller may publish and change; `["*"]` when unlimited.
    pub namespaces: Vec<String>,
    pub scopes: Vec<String>,
}

/// The caller's provider, subject, roles, namespaces and scopes.
#[utoipa::path(
    get,
    path = "/extension/v0/me",
    tag = "registries",
    responses(
        (status = 200, body = MeOut),
        (status = 404, description = "auth.mode is anonymous", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_me(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<MeOut>, ApiError> {
    let Some(Extension(principal)) = principal else {
        return Err(auth_is_off());
    };
    let grants = Grants::of(state.config.auth.authz.as_ref(), &principal.claims);
    Ok(Json(MeOut {
        scopes: principal.scopes().into_iter().map(str::to_owned).collect(),
        provider: principal.provider,
        subject: principal.subject,
        roles: grants.roles,
        namespaces: grants.namespaces.unwrap_or_else(|| vec!["*".to_owned()]),
    }))
}
