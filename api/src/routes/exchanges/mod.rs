//! What the official publisher CLI calls before it holds a token: `GET /v0/health` and the token exchanges,
//! `POST /v0/auth/{method}`, which prove who is calling and answer a registry token
//! ([`crate::auth::registry_tokens`]). Both are at `/v0.1` too, public in every mode, and audited as
//! exchanges, never as writes.

pub mod domain;
pub mod github;
pub mod oidc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use registry_runtime::config::PublisherMethods;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use domain::{exchange_dns, exchange_http};
use github::{exchange_github_at, exchange_github_oidc};
use oidc::exchange_oidc;

use super::ROOT_WRITE_PREFIXES;
use crate::audit::AuditSlot;
use crate::auth::proofs::Proofs;
use crate::auth::proofs::signed::ProofError;
use crate::auth::registry_tokens::{IssuedToken, Permission, PermissionAction};
use crate::auth::{RegistryGrant, RegistryTokens};
use crate::body::JsonBody;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in ROOT_WRITE_PREFIXES {
        router = router
            .route(&format!("{prefix}/health"), get(publisher_health))
            .route(&format!("{prefix}/auth/none"), post(exchange_none))
            .route(&format!("{prefix}/auth/github-oidc"), post(exchange_github_oidc))
            .route(&format!("{prefix}/auth/github-at"), post(exchange_github_at))
            .route(&format!("{prefix}/auth/dns"), post(exchange_dns))
            .route(&format!("{prefix}/auth/http"), post(exchange_http))
            .route(&format!("{prefix}/auth/oidc"), post(exchange_oidc));
    }
    router
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublisherHealthOut {
    pub status: &'static str,
    /// The GitHub OAuth app the CLI's `login github` device flow signs in to
    /// (`auth.publisherTokens.methods.githubAt.clientId`), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_client_id: Option<String>,
}

/// Liveness, as the official registry answers it to its publisher CLI.
#[utoipa::path(get, path = "/v0/health", tag = "auth", responses((status = 200, body = PublisherHealthOut)))]
pub async fn publisher_health(State(state): State<AppState>) -> Json<PublisherHealthOut> {
    let methods = state.config.auth.publisher_tokens.as_ref().map(|tokens| &tokens.methods);
    let github_client_id = methods.and_then(|methods| methods.github_at.as_ref()?.client_id.clone());
    Json(PublisherHealthOut { status: "ok", github_client_id })
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
    exchange.grant(tokens, "anonymous", &RegistryGrant::new("none", permissions))
}

/// One exchange under way: its method, counted and audited however it ends.
struct Exchange<'a> {
    state: &'a AppState,
    audit: AuditSlot,
    method: &'static str,
}

impl<'a> Exchange<'a> {
    fn begin(state: &'a AppState, audit: AuditSlot, method: &'static str) -> Self {
        audit.note(|facts| {
            facts.exchange = Some(method);
            facts.provider = Some(format!("registry:{method}"));
        });
        Self { state, audit, method }
    }

    /// The registry's tokens and the method's settings, which `pick` finds when the method is on.
    fn method<T>(
        &self,
        pick: impl Fn(&'a PublisherMethods) -> Option<&'a T>,
    ) -> Result<(&'a RegistryTokens, &'a T), ApiError> {
        let config = self.state.config.auth.publisher_tokens.as_ref();
        self.on(config.and_then(|config| pick(&config.methods)))
    }

    /// The registry's tokens and the method's client, which `pick` finds when the method is on.
    fn proof<T>(
        &self,
        pick: impl Fn(&'a Proofs) -> Option<&'a T>,
    ) -> Result<(&'a RegistryTokens, &'a T), ApiError> {
        self.on(pick(&self.state.proofs))
    }

    fn on<T>(&self, found: Option<&'a T>) -> Result<(&'a RegistryTokens, &'a T), ApiError> {
        match (self.state.registry_tokens.as_deref(), found) {
            (Some(tokens), Some(found)) => Ok((tokens, found)),
            _ => Err(self.off()),
        }
    }

    /// The exchange's input, from a JSON body of `shape`.
    fn input<T: DeserializeOwned>(&self, body: JsonBody, shape: &str) -> Result<T, ApiError> {
        let value = body.value().inspect_err(|_| self.count("refused"))?;
        serde_json::from_value(value)
            .map_err(|e| self.fail(ProofError::BadRequest(format!("the body must be {shape}: {e}"))))
    }

    /// A proof that failed: 400 for bad input, 401 for a proof that did not hold, 503 when a partner cannot
    /// answer; counted and audited.
    fn fail(&self, error: ProofError) -> ApiError {
        let (detail, answer): (String, fn(String) -> ApiError) = match error {
            ProofError::Refused(detail) => return self.refuse(detail),
            ProofError::BadRequest(detail) => (detail, ApiError::BadRequest),
            ProofError::Unavailable(detail) => (detail, ApiError::Unavailable),
        };
        self.count("refused");
        self.audit.note(|facts| facts.detail = Some(detail.clone()));
        answer(detail)
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

    /// The token for `subject` holding `grant`, or the refusal when a namespace of it is blocked.
    fn grant(
        self,
        tokens: &RegistryTokens,
        subject: &str,
        grant: &RegistryGrant,
    ) -> Result<Json<IssuedToken>, ApiError> {
        let described = grant.describe();
        self.audit.note(|facts| facts.subject = Some(subject.to_owned()));
        match tokens.issue(grant, subject) {
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

/// `publish` on each of `namespaces`.
fn publish_on(namespaces: impl IntoIterator<Item = String>) -> Vec<Permission> {
    namespaces.into_iter().map(|namespace| Permission::new(PermissionAction::Publish, namespace)).collect()
}
