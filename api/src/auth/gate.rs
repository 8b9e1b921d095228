//! The middleware that authenticates every request that needs it, before routing, and the admission both it
//! and [`super::write_access::WriteAccess`] use: the token's principal, whose scopes allow the request, with
//! the principal, or why there is none, noted in the request's audit facts.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use registry_runtime::config::{AuthConfig, AuthMode};

use super::{Authenticator, Principal, is_public, is_write};
use crate::audit::AuditSlot;
use crate::state::AppState;

/// Authenticates every request that needs it (see the module docs of [`super`]), before routing to the handler.
pub async fn require_token(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(authenticator) = state.authenticator.as_deref() else { return next.run(request).await };
    if !needs_token(&state.config.auth, request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let audit = AuditSlot::of(request.extensions());
    let write = is_write(request.method(), request.uri().path());
    match admit(authenticator, request.headers(), write, &audit).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(refused) => refused,
    }
}

/// The principal of a request's token, whose scopes allow the request; else the 401 or 403 to answer.
/// The principal, or why there is none, goes into the audit facts.
pub(super) async fn admit(
    authenticator: &Authenticator,
    headers: &HeaderMap,
    write: bool,
    audit: &AuditSlot,
) -> Result<Principal, Response> {
    let principal = authenticator.authenticate(headers).await.map_err(|refusal| {
        audit.note(|facts| facts.detail = Some(refusal.to_string()));
        authenticator.unauthorized(&refusal)
    })?;
    audit.note(|facts| facts.principal(&principal));
    if let Some(refused) = authenticator.scope_refusal(&principal, write) {
        audit.note(|facts| facts.detail = Some("the token lacks the scope".into()));
        return Err(refused);
    }
    Ok(principal)
}

/// Whether a request needs a token: not in anonymous mode, not on a public path, and not a registry read
/// when `publicReads` opens them (the extension API stays protected: it shows source hosts and errors).
/// `POST …/validate` stores nothing and counts as a read.
fn needs_token(auth: &AuthConfig, method: &Method, path: &str) -> bool {
    if auth.mode == AuthMode::Anonymous || is_public(path, &auth.public_paths) {
        return false;
    }
    !(auth.public_reads && !is_write(method, path) && !path.starts_with("/extension/"))
}
