//! `POST /v0/auth/github-oidc` and `/v0/auth/github-at`: a GitHub Actions OIDC token, or a GitHub access
//! token, exchanged for a registry token for `io.github.<account>/*`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::oidc::OidcExchangeIn;
use super::{Exchange, publish_on};
use crate::audit::AuditSlot;
use crate::auth::RegistryGrant;
use crate::auth::registry_tokens::IssuedToken;
use crate::body::JsonBody;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// A GitHub Actions OIDC token (the CLI asks for it with the audience `mcp-registry`), for a token that
/// publishes `io.github.<repository_owner>/*`. On only when configured.
#[utoipa::path(
    post,
    path = "/v0/auth/github-oidc",
    tag = "auth",
    request_body = OidcExchangeIn,
    responses(
        (status = 200, body = IssuedToken),
        (status = 400, description = "The body is not {\"oidc_token\": \"…\"}", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The token was refused (issuer, signature, expiry, audience, owner or repository), or a namespace is blocked", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The method is off", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The issuer's key set is not loaded yet", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn exchange_github_oidc(
    State(state): State<AppState>,
    audit: AuditSlot,
    body: JsonBody,
) -> Result<Json<IssuedToken>, ApiError> {
    let exchange = Exchange::begin(&state, audit, "github-oidc");
    let (tokens, github) = exchange.proof(|proofs| proofs.github_oidc.as_ref())?;
    let input: OidcExchangeIn = exchange.input(body, r#"{"oidc_token": "…"}"#)?;
    let workflow = github.verify(&input.oidc_token).await.map_err(|error| exchange.fail(error))?;
    let permissions = publish_on([format!("io.github.{}/*", workflow.owner)]);
    exchange.grant(tokens, &workflow.subject, &RegistryGrant::new("github-oidc", permissions))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GithubAtIn {
    /// A GitHub access token (`mcp-publisher login github` gets one by the device flow).
    pub github_token: String,
}

/// A GitHub access token, for a token that publishes `io.github.<login>/*` and `io.github.<org>/*` for each
/// organisation where the user is an admin. A token that cannot list organisation roles (no `read:org`)
/// still gets the personal namespace. On only when configured.
#[utoipa::path(
    post,
    path = "/v0/auth/github-at",
    tag = "auth",
    request_body = GithubAtIn,
    responses(
        (status = 200, body = IssuedToken),
        (status = 400, description = "The body is not {\"github_token\": \"…\"}", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "GitHub refused the token, or a namespace is blocked", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The method is off", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "GitHub cannot be reached or answered with an error", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn exchange_github_at(
    State(state): State<AppState>,
    audit: AuditSlot,
    body: JsonBody,
) -> Result<Json<IssuedToken>, ApiError> {
    let exchange = Exchange::begin(&state, audit, "github-at");
    let (tokens, github) = exchange.proof(|proofs| proofs.github_at.as_ref())?;
    let input: GithubAtIn = exchange.input(body, r#"{"github_token": "…"}"#)?;
    let user = github.user(&input.github_token).await.map_err(|error| exchange.fail(error))?;
    let accounts = std::iter::once(&user.login).chain(&user.admin_orgs);
    let mut grant =
        RegistryGrant::new("github-at", publish_on(accounts.map(|account| format!("io.github.{account}/*"))));
    grant.org_roles_unseen = user.orgs_unseen;
    exchange.grant(tokens, &user.login, &grant)
}
