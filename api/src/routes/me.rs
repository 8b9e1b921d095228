//! `GET /extension/v0/me`: the caller as the registry sees it, so that operators can debug claim rules.

use axum::extract::{Extension, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::authz::{Grants, Role};
use crate::auth::registry_tokens::Permission;
use crate::auth::{Principal, auth_is_off};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/extension/v0/me", get(get_me))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeOut {
    /// The configured name of the provider that issued the token.
    pub provider: String,
    pub subject: Option<String>,
    pub roles: Vec<Role>,
    /// The server name patterns the caller may publish and change; `["*"]` when unlimited.
    pub namespaces: Vec<String>,
    pub scopes: Vec<String>,
    /// For a registry token: the exchange that issued it (`none`, `dns`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// For a registry token: what it allows; its `namespaces` are these permissions' patterns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
}

/// The caller's provider, subject, roles, namespaces and scopes; for a registry token (in either mode), its
/// method and permissions.
#[utoipa::path(
    get,
    path = "/extension/v0/me",
    tag = "registries",
    responses(
        (status = 200, body = MeOut),
        (status = 404, description = "auth.mode is anonymous and no registry token came", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_me(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Json<MeOut>, ApiError> {
    let Some(Extension(principal)) = principal else {
        return Err(auth_is_off());
    };
    if let Some(grant) = principal.registry {
        let mut namespaces: Vec<String> = grant.permissions.iter().map(|p| p.resource.clone()).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        return Ok(Json(MeOut {
            provider: principal.provider,
            subject: principal.subject,
            roles: Vec::new(),
            namespaces,
            scopes: Vec::new(),
            auth_method: Some(grant.method),
            permissions: Some(grant.permissions),
        }));
    }
    let grants = Grants::of(state.config.auth.authz.as_ref(), &principal.claims);
    Ok(Json(MeOut {
        scopes: principal.scopes().into_iter().map(str::to_owned).collect(),
        provider: principal.provider,
        subject: principal.subject,
        roles: grants.roles,
        namespaces: grants.namespaces.unwrap_or_else(|| vec!["*".to_owned()]),
        auth_method: None,
        permissions: None,
    }))
}
