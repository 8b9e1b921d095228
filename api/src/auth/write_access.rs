//! The one decision on writes: [`WriteAccess`], which every write route takes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use registry_core::model::RegistryName;

use super::Principal;
use super::authz::{Action, Grants};
use super::gate::admit;
use crate::audit::AuditSlot;
use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the caller may make this write: in anonymous mode anyone; in oauth mode an authenticated
/// principal with the scope (when enforced) and the role the route's [`Action`] needs. Names are checked
/// against the principal's namespaces with [`WriteAccess::check_target`] once the handler knows them.
/// Taking it marks the request as a write for the audit trail.
pub struct WriteAccess {
    pub principal: Option<Principal>,
    pub action: Action,
    grants: Grants,
    audit: AuditSlot,
}

impl WriteAccess {
    /// Records the server (and version) written, then refuses with 403 when `name` is outside the caller's
    /// namespaces, naming the patterns it holds.
    pub fn check_target(&self, name: &str, version: Option<&str>) -> Result<(), ApiError> {
        self.audit.note(|facts| {
            facts.name = Some(name.to_owned());
            facts.version = version.map(str::to_owned);
        });
        if self.grants.may_name(name) {
            return Ok(());
        }
        // No namespace rules grant no namespace.
        let held = self.grants.namespaces.as_deref().unwrap_or_default();
        let held = if held.is_empty() { "none".to_owned() } else { held.join(", ") };
        let mut detail = format!(
            "forbidden: {name} is outside your namespaces (you may {} names matching: {held})",
            self.action.as_str()
        );
        if let Some(grant) = self.principal.as_ref().and_then(|p| p.registry.as_ref())
            && grant.org_roles_unseen
            && name.starts_with("io.github.")
        {
            detail.push_str(
                "; the GitHub token this registry token came from could not list your organisation roles, so no \
                 organisation's namespace was granted: log in again with a GitHub token that has the read:org \
                 scope (a classic token), or one allowed to read organisation memberships",
            );
        }
        self.audit.note(|facts| facts.detail = Some(detail.clone()));
        Err(ApiError::Forbidden(detail))
    }

    /// Records the registry written, where no [`crate::extract::WriteTarget`] does.
    pub fn note_registry(&self, registry: &RegistryName) {
        self.audit.note(|facts| facts.registry = Some(registry.to_string()));
    }
}

impl FromRequestParts<AppState> for WriteAccess {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let action = Action::of(&parts.method, parts.uri.path());
        let audit = AuditSlot::of(&parts.extensions);
        audit.note(|facts| facts.action = Some(action));
        let principal = match parts.extensions.get::<Principal>() {
            Some(principal) => Some(principal.clone()),
            // A write on a path made public still needs a token in oauth mode.
            None => admit(state, &parts.headers, state.authenticator.is_some(), true, &audit).await?,
        };
        // Anonymous mode, and no token presented.
        let Some(principal) = principal else {
            return Ok(Self { principal: None, action, grants: Grants::all(), audit });
        };
        let grants = match &principal.registry {
            Some(grant) => grant.grants(action),
            None => Grants::of(state.config.auth.authz.as_ref(), &principal.claims),
        };
        if !grants.holds(action.role()) {
            let detail = lacking(action, &principal);
            audit.note(|facts| facts.detail = Some(detail.clone()));
            return Err(ApiError::Forbidden(detail).into_response());
        }
        Ok(Self { principal: Some(principal), action, grants, audit })
    }
}

/// Why `principal` may not make `action` at all: the role it lacks, or what its registry token holds.
fn lacking(action: Action, principal: &Principal) -> String {
    if let Some(grant) = &principal.registry {
        return format!(
            "forbidden: this registry token does not allow {} (it holds: {})",
            action.as_str(),
            grant.describe()
        );
    }
    let role = serde_json::to_value(action.role()).ok().and_then(|v| v.as_str().map(str::to_owned));
    // A role is a unit variant: it always serialises to its name, so the default is never shown.
    let role = role.unwrap_or_default();
    format!("forbidden: insufficient permissions ({} needs the {role} role)", action.as_str())
}
