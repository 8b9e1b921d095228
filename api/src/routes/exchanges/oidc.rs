//! `POST /v0/auth/oidc`: a token of the registry's own identity providers, exchanged for a registry token
//! that scripts and the publisher CLI can use.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Exchange, publish_on};
use crate::audit::AuditSlot;
use crate::auth::RegistryGrant;
use crate::auth::authz::{Grants, Role};
use crate::auth::registry_tokens::{IssuedToken, Permission, PermissionAction};
use crate::body::JsonBody;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct OidcExchangeIn {
    /// An access token of one of `auth.publisherTokens.methods.oidc.providers`.
    pub oidc_token: String,
}

/// A token of the identity provider, exchanged for a registry token for scripts and the publisher CLI: it
/// may publish the namespaces `auth.authz` gives the caller (every name without `auth.authz`), and edit
/// every name when the caller is `superAdmin`. On only when configured.
#[utoipa::path(
    post,
    path = "/v0/auth/oidc",
    tag = "auth",
    request_body = OidcExchangeIn,
    responses(
        (status = 200, body = IssuedToken),
        (status = 400, description = "The body is not {\"oidc_token\": \"…\"}", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The token was refused, its provider's tokens are not exchanged, its caller may not publish, or a namespace is blocked", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The method is off", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn exchange_oidc(
    State(state): State<AppState>,
    audit: AuditSlot,
    body: JsonBody,
) -> Result<Json<IssuedToken>, ApiError> {
    let exchange = Exchange::begin(&state, audit, "oidc");
    let (tokens, oidc) = exchange.method(|methods| methods.oidc.as_ref())?;
    let Some(authenticator) = state.authenticator.as_deref() else { return Err(exchange.off()) };
    let input: OidcExchangeIn = exchange.input(body, r#"{"oidc_token": "…"}"#)?;
    let principal = (authenticator.verify(&input.oidc_token).await).map_err(|rejection| {
        exchange.refuse(format!("the identity provider's token was refused: {rejection}"))
    })?;
    if !oidc.providers.contains(&principal.provider) {
        let detail = format!(
            "tokens of provider {} are not exchanged here (auth.publisherTokens.methods.oidc.providers)",
            principal.provider
        );
        return Err(exchange.refuse(detail));
    }
    let permissions = oidc_permissions(&Grants::of(state.config.auth.authz.as_ref(), &principal.claims));
    if permissions.is_empty() {
        return Err(exchange
            .refuse("the caller holds no role that publishes (auth.authz.roles.manageEntries)".into()));
    }
    let subject = principal.subject.as_deref().unwrap_or(&principal.provider);
    exchange.grant(tokens, subject, &RegistryGrant::new("oidc", permissions))
}

/// What an identity provider's caller may do with a registry token: publish its namespaces (every name when
/// unlimited), and edit every name as `superAdmin`; nothing without a role that publishes.
fn oidc_permissions(grants: &Grants) -> Vec<Permission> {
    if !grants.holds(Role::ManageEntries) {
        return Vec::new();
    }
    let namespaces = grants.namespaces.clone().unwrap_or_else(|| vec!["*".to_owned()]);
    let mut permissions = publish_on(namespaces);
    if grants.holds(Role::SuperAdmin) {
        permissions.push(Permission::new(PermissionAction::Edit, "*"));
    }
    permissions
}
