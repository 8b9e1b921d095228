//! The middleware that authenticates every request that needs it, before routing, and the admission both it
//! and [`WriteAccess`](super::WriteAccess) use: the token's principal, whose scopes allow the request, with
//! the principal, or why there is none, noted in the request's audit facts.
//!
//! A registry token (one whose `iss` is this registry's, see [`super::registry_tokens`]) is checked first, in
//! either mode, against the registry's own keys; it is never passed on to an identity provider. In anonymous
//! mode a request without a token stays open, but one that presents a token has it verified, so that a
//! registry token limits what its holder may do.

use axum::extract::Request;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use registry_runtime::config::{AuthConfig, AuthMode};

use super::jwt::{self, Rejection};
use super::registry_tokens::{self, REGISTRY_PROVIDER};
use super::{Principal, Refusal, bearer_token, is_public, is_write};
use crate::audit::AuditSlot;
use crate::state::AppState;

/// Authenticates every request that needs it (see the module docs), before routing to the handler.
pub async fn require_token<F: Future<Output = Response>>(
    state: &AppState,
    mut request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let (method, path) = (request.method(), request.uri().path());
    if is_public(path, &state.config.auth.public_paths) {
        return next(request).await;
    }
    let presented = bearer_token(request.headers()).is_some();
    let required = needs_token(&state.config.auth, method, path, presented);
    let write = is_write(method, path);
    if crate::ui::is_ui(path) {
        // Boxed, as the identity provider's checks below: see `pipeline`.
        request = match Box::pin(crate::ui::visitor::admit(state, request, required, write)).await {
            Ok(request) if request.extensions().get::<Principal>().is_some() => {
                return next(request).await;
            }
            Ok(request) => request,
            Err(refused) => return refused,
        };
    }
    let audit = AuditSlot::of(request.extensions());
    match admit(state, request.headers(), required, write, &audit).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(principal);
            next(request).await
        }
        Ok(None) => next(request).await,
        Err(refused) => crate::rate_limit::http::token_refused(state, request, refused).await,
    }
}

/// The principal of a request's token, whose scopes allow the request; else the 401 or 403 to answer. No
/// principal, and no refusal, when the request needs no token and presents none the registry must check.
/// The principal, or why there is none, goes into the audit facts.
pub(super) async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    required: bool,
    write: bool,
    audit: &AuditSlot,
) -> Result<Option<Principal>, Response> {
    let token = bearer_token(headers);
    if let (Some(tokens), Some(token)) = (state.registry_tokens.as_deref(), token)
        && let Ok(jws) = jwt::parse(token)
        && tokens.claims_to_be_ours(&jws)
    {
        let verified = tokens.verify(jws);
        count(REGISTRY_PROVIDER, verified.is_ok());
        return match verified {
            Ok(principal) => {
                audit.note(|facts| facts.principal(&principal));
                Ok(Some(principal))
            }
            Err(rejection) => Err(refuse(audit, &rejection)),
        };
    }
    match state.authenticator.as_deref() {
        Some(authenticator) if required => {
            // Boxed: every request's future would otherwise carry room for a token's verification, which
            // the steps' layer copies into its box (see `pipeline`).
            let principal = Box::pin(authenticator.authenticate(headers)).await.map_err(|refusal| {
                audit.note(|facts| facts.detail = Some(refusal.to_string()));
                authenticator.unauthorized(&refusal)
            })?;
            audit.note(|facts| facts.principal(&principal));
            if let Some(refused) = authenticator.scope_refusal(&principal, write) {
                audit.note(|facts| facts.detail = Some("the token lacks the scope".into()));
                return Err(refused);
            }
            Ok(Some(principal))
        }
        // Anonymous mode, once the registry issues tokens: a token it did not issue cannot be checked.
        None if token.is_some() && state.registry_tokens.is_some() => {
            Err(refuse(audit, &Rejection::NotIssuedHere))
        }
        _ => Ok(None),
    }
}

/// The 401 for a token the registry checked itself, saying what failed (its own tokens' faults leak nothing
/// of an identity provider's).
fn refuse(audit: &AuditSlot, rejection: &Rejection) -> Response {
    audit.note(|facts| facts.detail = Some(Refusal::Invalid(rejection.clone()).to_string()));
    registry_tokens::refused(rejection)
}

fn count(provider: &str, accepted: bool) {
    let outcome = if accepted { "accepted" } else { "rejected" };
    metrics::counter!(registry_runtime::metrics::AUTH_VERIFICATIONS, "provider" => provider.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Whether a request needs a token: not in anonymous mode, not on a public path, and not a registry read
/// when `publicReads` opens them (the extension API and the web catalogue's registries page stay protected:
/// they show source hosts and errors).
/// `POST …/validate` stores nothing and counts as a read; at the root (`/v0/validate`, `/v0.1/validate`),
/// which the publisher CLI calls without a token, a token is checked only when one is `presented` (without
/// one the caller learns nothing of the stored data).
fn needs_token(auth: &AuthConfig, method: &Method, path: &str, presented: bool) -> bool {
    if auth.mode == AuthMode::Anonymous || is_public(path, &auth.public_paths) {
        return false;
    }
    if *method == Method::POST && matches!(path, "/v0/validate" | "/v0.1/validate") {
        return presented;
    }
    let protected = path.starts_with("/extension/") || path == crate::ui::REGISTRIES_PATH;
    !(auth.public_reads && !is_write(method, path) && !protected)
}
