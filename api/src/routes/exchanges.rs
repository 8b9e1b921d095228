//! What the official publisher CLI calls before it holds a token: `GET /v0/health` and the token exchanges,
//! `POST /v0/auth/{method}`, which prove who is calling and answer a registry token
//! ([`crate::auth::registry_tokens`]). Both are at `/v0.1` too, public in every mode, and audited as
//! exchanges, never as writes.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use registry_runtime::config::PublisherMethods;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ROOT_WRITE_PREFIXES;
use crate::audit::AuditSlot;
use crate::auth::RegistryTokens;
use crate::auth::authz::{Grants, Role};
use crate::auth::registry_tokens::{IssuedToken, Permission, PermissionAction, describe};
use crate::body::JsonBody;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in ROOT_WRITE_PREFIXES {
        router = router
            .route(&format!("{prefix}/health"), get(publisher_health))
            .route(&format!("{prefix}/auth/none"), post(exchange_none))
            .route(&format!("{prefix}/auth/oidc"), post(exchange_oidc));
    }
    router
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublisherHealthOut {
    pub status: &'static str,
}

/// Liveness, as the official registry answers it to its publisher CLI.
#[utoipa::path(get, path = "/v0/health", tag = "auth", responses((status = 200, body = PublisherHealthOut)))]
pub async fn publisher_health() -> Json<PublisherHealthOut> {
    Json(PublisherHealthOut { status: "ok" })
}

/// A token for anyone, to publish and edit the namespaces of `auth.publisherTokens.methods.none` (by default
/// `io.modelcontextprotocol.anonymous/*`). On only when configured.
#[utoipa::path(
    post,
    path = "/v0/auth/none",
    tag = "auth",
    responses(
        (status = 200, body = IssuedToken),
        (status = 401, description = "A namespace it would grant is blocked", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The method is off", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn exchange_none(
    State(state): State<AppState>,
    audit: AuditSlot,
) -> Result<Json<IssuedToken>, ApiError> {
    let exchange = Exchange::begin(&state, audit, "none");
    let (tokens, none) = exchange.method(|methods| methods.none.as_ref())?;
    let permissions = (none.namespaces.iter())
        .flat_map(|namespace| {
            [
                Permission::new(PermissionAction::Publish, namespace),
                Permission::new(PermissionAction::Edit, namespace),
            ]
        })
        .collect::<Vec<_>>();
    exchange.grant(tokens, "anonymous", &permissions)
}

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
    let input: OidcExchangeIn = serde_json::from_value(body.value()?)
        .map_err(|e| ApiError::BadRequest(format!("the body must be {{\"oidc_token\": \"…\"}}: {e}")))?;
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
    exchange.grant(tokens, subject, &permissions)
}

/// What an identity provider's caller may do with a registry token: publish its namespaces (every name when
/// unlimited), and edit every name as `superAdmin`; nothing without a role that publishes.
fn oidc_permissions(grants: &Grants) -> Vec<Permission> {
    if !grants.holds(Role::ManageEntries) {
        return Vec::new();
    }
    let namespaces = grants.namespaces.clone().unwrap_or_else(|| vec!["*".to_owned()]);
    let mut permissions: Vec<Permission> = namespaces
        .into_iter()
        .map(|namespace| Permission::new(PermissionAction::Publish, namespace))
        .collect();
    if grants.holds(Role::SuperAdmin) {
        permissions.push(Permission::new(PermissionAction::Edit, "*"));
    }
    permissions
}

/// One exchange under way: its method, counted and audited however it ends.
struct Exchange<'a> {
    state: &'a AppState,
    audit: AuditSlot,
    method: &'static str,
}

impl<'a> Exchange<'a> {
    fn begin(state: &'a AppState, audit: AuditSlot, method: &'static str) -> Self {
        audit.note(|facts| facts.exchange = Some(method));
        Self { state, audit, method }
    }

    /// The registry's tokens and the method's settings, which `pick` finds when the method is on.
    fn method<T>(
        &self,
        pick: impl Fn(&'a PublisherMethods) -> Option<&'a T>,
    ) -> Result<(&'a RegistryTokens, &'a T), ApiError> {
        let config = self.state.config.auth.publisher_tokens.as_ref();
        match (self.state.registry_tokens.as_deref(), config.and_then(|config| pick(&config.methods))) {
            (Some(tokens), Some(settings)) => Ok((tokens, settings)),
            _ => Err(self.off()),
        }
    }

    /// A 401 for a proof that did not hold, counted and audited.
    fn refuse(&self, detail: String) -> ApiError {
        self.count("refused");
        self.audit.note(|facts| facts.detail = Some(detail.clone()));
        ApiError::Unauthorized(detail)
    }

    fn off(&self) -> ApiError {
        self.count("refused");
        ApiError::NotFound(format!(
            "the {} login is off on this registry (auth.publisherTokens.methods)",
            self.method
        ))
    }

    /// The token for `subject` with `permissions`, or the refusal when one is blocked.
    fn grant(
        self,
        tokens: &RegistryTokens,
        subject: &str,
        permissions: &[Permission],
    ) -> Result<Json<IssuedToken>, ApiError> {
        let described = describe(permissions);
        self.audit.note(|facts| {
            facts.provider = Some(format!("registry:{}", self.method));
            facts.subject = Some(subject.to_owned());
        });
        match tokens.issue(self.method, subject, permissions) {
            Ok(issued) => {
                self.count("granted");
                self.audit.note(|facts| facts.detail = Some(format!("granted: {described}")));
                Ok(Json(issued))
            }
            Err(blocked) => {
                Err(self.refuse(format!("{}: {blocked}; no token is issued for it", self.method)))
            }
        }
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!(registry_runtime::metrics::PUBLISHER_TOKEN_EXCHANGES, "method" => self.method, "outcome" => outcome)
            .increment(1);
    }
}
