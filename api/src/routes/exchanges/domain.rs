//! `POST /v0/auth/dns` and `/v0/auth/http`: a timestamp signed with a key the domain publishes, in a TXT
//! record or at `https://<domain>/.well-known/mcp-registry-auth`, exchanged for a registry token for the
//! domain's reversed namespace.

use axum::Json;
use axum::extract::State;
use registry_core::namespace::reversed_domain;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Exchange, publish_on};
use crate::audit::AuditSlot;
use crate::auth::RegistryGrant;
use crate::auth::proofs::signed::DomainClaim;
use crate::auth::registry_tokens::IssuedToken;
use crate::body::JsonBody;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

const SHAPE: &str = r#"{"domain": "…", "timestamp": "…", "signed_timestamp": "…"}"#;

#[derive(Debug, Deserialize, ToSchema)]
pub struct DomainProofIn {
    /// The domain proved, e.g. `example.com`.
    pub domain: String,
    /// The time signed, in RFC 3339 (the CLI sends UTC: `2026-04-25T12:00:00Z`); within 15 s of the
    /// registry's clock.
    pub timestamp: String,
    /// The signature of the timestamp's bytes, in hex: Ed25519, or ECDSA P-384 as `r || s`.
    pub signed_timestamp: String,
}

impl DomainProofIn {
    fn claim(&self) -> DomainClaim<'_> {
        DomainClaim {
            domain: &self.domain,
            timestamp: &self.timestamp,
            signed_timestamp: &self.signed_timestamp,
        }
    }
}

/// A domain proved by a key in its TXT records (`v=MCPv1; k=ed25519|ecdsap384; p=<base64>`), for a token
/// that publishes `<reversed domain>/*` and `<reversed domain>.*`. On only when configured.
#[utoipa::path(
    post,
    path = "/v0/auth/dns",
    tag = "auth",
    request_body = DomainProofIn,
    responses(
        (status = 200, body = IssuedToken),
        (status = 400, description = "The body, the domain, the timestamp or the signature's encoding is malformed", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The timestamp is outside its window, no published key verifies the signature, the lookup failed, or a namespace is blocked", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The method is off", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn exchange_dns(
    State(state): State<AppState>,
    audit: AuditSlot,
    body: JsonBody,
) -> Result<Json<IssuedToken>, ApiError> {
    let exchange = Exchange::begin(&state, audit, "dns");
    let (tokens, dns) = exchange.proof(|proofs| proofs.dns.as_ref())?;
    let input: DomainProofIn = exchange.input(body, SHAPE)?;
    let domain = dns.prove(&input.claim()).await.map_err(|error| exchange.fail(error))?;
    let reversed = reversed_domain(&domain);
    let permissions = publish_on([format!("{reversed}/*"), format!("{reversed}.*")]);
    exchange.grant(tokens, &domain, &RegistryGrant::new("dns", permissions))
}

/// A domain proved by the key at `https://<domain>/.well-known/mcp-registry-auth` (one
/// `v=MCPv1; k=…; p=…` line), for a token that publishes `<reversed domain>/*`. On only when configured.
#[utoipa::path(
    post,
    path = "/v0/auth/http",
    tag = "auth",
    request_body = DomainProofIn,
    responses(
        (status = 200, body = IssuedToken),
        (status = 400, description = "The body, the domain, the timestamp or the signature's encoding is malformed", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The timestamp is outside its window, the file could not be read (a redirect, over 4,096 bytes, a private address, a timeout), its key does not verify the signature, or a namespace is blocked", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The method is off", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn exchange_http(
    State(state): State<AppState>,
    audit: AuditSlot,
    body: JsonBody,
) -> Result<Json<IssuedToken>, ApiError> {
    let exchange = Exchange::begin(&state, audit, "http");
    let (tokens, http) = exchange.proof(|proofs| proofs.http.as_ref())?;
    let input: DomainProofIn = exchange.input(body, SHAPE)?;
    let domain = http.prove(&input.claim()).await.map_err(|error| exchange.fail(error))?;
    let permissions = publish_on([format!("{}/*", reversed_domain(&domain))]);
    exchange.grant(tokens, &domain, &RegistryGrant::new("http", permissions))
}
