//! What the official publisher CLI calls before it holds a token: `GET /v0/health` and the token exchanges,
//! `POST /v0/auth/{method}`, which prove who is calling and answer a registry token
//! ([`crate::auth::registry_tokens`]). Both are at `/v0.1` too, public in every mode, and audited as
//! exchanges, never as writes.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use registry_runtime::config::PublisherMethods;
use serde::Serialize;
use utoipa::ToSchema;

use super::ROOT_WRITE_PREFIXES;
use crate::audit::AuditSlot;
use crate::auth::RegistryTokens;
use crate::auth::registry_tokens::{IssuedToken, Permission, PermissionAction, describe};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in ROOT_WRITE_PREFIXES {
        router = router
            .route(&format!("{prefix}/health"), get(publisher_health))
            .route(&format!("{prefix}/auth/none"), post(exchange_none));
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
                self.count("refused");
                let detail = format!("{}: {blocked}; no token is issued for it", self.method);
                self.audit.note(|facts| facts.detail = Some(detail.clone()));
                Err(ApiError::Unauthorized(detail))
            }
        }
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!(registry_runtime::metrics::PUBLISHER_TOKEN_EXCHANGES, "method" => self.method, "outcome" => outcome)
            .increment(1);
    }
}
