//! Who is calling, and may they. In `oauth` mode one middleware ([`gate`]) authenticates every
//! request that is not public: the bearer token is routed to the provider whose issuer equals its `iss`
//! exactly, and verified with that provider's keys only ([`jwt`]). The [`Principal`] it finds goes into the
//! request; [`WriteAccess`], which every write route takes, is the one decision on writes and builds on it.
//! Refusals carry the RFC 6750 challenge with the RFC 9728 `resource_metadata` URL ([`metadata`]).

pub mod authz;
pub mod gate;
pub mod http;
mod introspection;
pub mod jwt;
pub mod metadata;
pub mod proofs;
mod providers;
mod public_paths;
pub mod registry_tokens;
pub mod sign_in;
mod token_cache;
mod write_access;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use registry_runtime::config::OAuthConfig;
use serde_json::{Map, Value};

use crate::error::{ApiError, problem};
use jwt::Rejection;
use providers::Provider;
pub use public_paths::{is_exchange, is_public};
pub use registry_tokens::{RegistryGrant, RegistryTokens};
use token_cache::TokenCache;
pub use write_access::WriteAccess;

/// The caller a token proved.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The configured name of the provider that issued the token.
    pub provider: String,
    pub subject: Option<String>,
    /// Every claim of the token.
    pub claims: Map<String, Value>,
    /// What a registry token allows; `None` for an identity provider's token, whose roles and namespaces
    /// come from `auth.authz`.
    pub registry: Option<RegistryGrant>,
}

impl Principal {
    /// The scopes granted: `scope` (space-separated) and `scp` (a string or an array).
    pub fn scopes(&self) -> Vec<&str> {
        let mut scopes: Vec<&str> = Vec::new();
        if let Some(Value::String(scope)) = self.claims.get("scope") {
            scopes.extend(scope.split_whitespace());
        }
        match self.claims.get("scp") {
            Some(Value::String(scp)) => scopes.extend(scp.split_whitespace()),
            Some(Value::Array(scp)) => scopes.extend(scp.iter().filter_map(Value::as_str)),
            _ => {}
        }
        scopes
    }
}

/// How long a verified JWT is remembered (never past its `exp`). A key the provider drops from its set
/// stops working at the next key set fetch anyway ([`providers::REFRESH`]); this is far shorter.
pub const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The answer of the routes that only make sense in oauth mode, when it is off.
pub fn auth_is_off() -> ApiError {
    ApiError::NotFound("authentication is off (auth.mode: anonymous)".into())
}

pub const READ_SCOPE: &str = "mcp-registry:read";
pub const WRITE_SCOPE: &str = "mcp-registry:write";

/// The providers of `auth.oauth`, by exact issuer.
pub struct Authenticator {
    providers: HashMap<String, Arc<Provider>>,
    /// The same providers in config order, for introspection.
    ordered: Vec<Arc<Provider>>,
    introspector: introspection::Introspector,
    /// JWTs that verified, for at most [`VERIFIED_TTL`], so a client's next requests skip the signature check.
    verified: TokenCache<Principal>,
    oauth: OAuthConfig,
    metadata_url: String,
}

/// Why a request has no principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization: Bearer <token>` (RFC 6750 `invalid_request`).
    #[error("no bearer token")]
    Missing,
    /// A token that did not verify (`invalid_token`).
    #[error("the token was refused: {0}")]
    Invalid(Rejection),
}

impl Authenticator {
    /// The providers, ready to verify once their key sets load (see [`Authenticator::keep_keys_fresh`]).
    pub fn new(oauth: &OAuthConfig) -> Result<Self, String> {
        let mut ordered = Vec::new();
        for config in &oauth.providers {
            let provider =
                Provider::new(config.clone()).map_err(|e| format!("provider {}: {e}", config.name))?;
            ordered.push(Arc::new(provider));
        }
        let providers = ordered.iter().map(|p| (p.config.issuer.clone(), p.clone())).collect();
        Ok(Self {
            providers,
            ordered,
            introspector: introspection::Introspector::default(),
            verified: TokenCache::default(),
            oauth: oauth.clone(),
            metadata_url: metadata::document_url(&oauth.resource),
        })
    }

    /// Loads and refreshes every provider's keys, each on its own task, until dropped (which stops them).
    pub fn keep_keys_fresh(&self) -> impl Future<Output = ()> + Send + 'static {
        let providers = self.ordered.clone();
        async move {
            let mut loaders = tokio::task::JoinSet::new();
            for provider in providers {
                loaders.spawn(provider.keep_fresh());
            }
            while let Some(ended) = loaders.join_next().await {
                if let Err(error) = ended {
                    tracing::error!(error = %error, "a key set refresher stopped");
                }
            }
        }
    }

    /// The principal that `headers` carry a valid token for.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Refusal> {
        let token = bearer_token(headers).ok_or(Refusal::Missing)?;
        self.verify(token).await.map_err(|rejection| {
            tracing::debug!(reason = %rejection, "token refused");
            Refusal::Invalid(rejection)
        })
    }

    /// Verifies a token, and counts the verification by provider (`none` when no provider could be told)
    /// and outcome.
    pub async fn verify(&self, token: &str) -> Result<Principal, Rejection> {
        let verified = self.verify_uncounted(token).await;
        let (provider, outcome) = match &verified {
            Ok(principal) => (principal.provider.clone(), "accepted"),
            Err(_) => ("none".to_owned(), "rejected"),
        };
        metrics::counter!(registry_runtime::metrics::AUTH_VERIFICATIONS, "provider" => provider, "outcome" => outcome)
            .increment(1);
        verified
    }

    async fn verify_uncounted(&self, token: &str) -> Result<Principal, Rejection> {
        let cache_key = token_cache::key(token);
        if let Some(principal) = self.verified.get(&cache_key) {
            return Ok(principal);
        }
        let jws = match jwt::parse(token) {
            Ok(jws) => jws,
            Err(Rejection::NotJws) => {
                return self.introspector.introspect(&self.ordered, token, cache_key).await;
            }
            Err(other) => return Err(other),
        };
        let issuer = jws.unverified_issuer()?;
        let provider =
            self.providers.get(issuer).ok_or_else(|| Rejection::UnknownIssuer(jwt::clip(issuer)))?;
        let config = &provider.config;
        provider.verify_signature(&jws).await?;
        jwt::check_claims(&jws.claims, &config.audience, config.leeway, chrono::Utc::now())?;
        let principal = Principal {
            provider: config.name.clone(),
            subject: jws.claims.get("sub").and_then(Value::as_str).map(str::to_owned),
            claims: jws.claims,
            registry: None,
        };
        if let Some(ttl) = token_cache::until_exp(&principal.claims, VERIFIED_TTL) {
            self.verified.put(cache_key, ttl, principal.clone());
        }
        Ok(principal)
    }

    /// The providers listed in the RFC 9728 document, in config order.
    pub fn advertised_issuers(&self) -> Vec<&str> {
        self.oauth.providers.iter().filter(|p| p.advertise).map(|p| p.issuer.as_str()).collect()
    }

    /// The provider configured under `name`.
    fn provider(&self, name: &str) -> Option<Arc<Provider>> {
        self.ordered.iter().find(|provider| provider.config.name == name).cloned()
    }

    pub fn oauth(&self) -> &OAuthConfig {
        &self.oauth
    }

    /// With `enforceScopes`, a write needs `mcp-registry:write` and a read `mcp-registry:read` or the write
    /// scope; else the 403 with the `insufficient_scope` challenge (RFC 6750 §3.1, MCP authorization).
    pub fn scope_refusal(&self, principal: &Principal, write: bool) -> Option<Response> {
        if !self.oauth.enforce_scopes {
            return None;
        }
        let scopes = principal.scopes();
        let granted = scopes.contains(&WRITE_SCOPE) || (!write && scopes.contains(&READ_SCOPE));
        if granted {
            return None;
        }
        let needed = if write { WRITE_SCOPE } else { READ_SCOPE };
        let challenge = format!(
            "Bearer realm=\"{}\", error=\"insufficient_scope\", scope=\"{needed}\", resource_metadata=\"{}\"",
            quoted(&self.oauth.realm),
            quoted(&self.metadata_url)
        );
        let mut response =
            problem(StatusCode::FORBIDDEN, format!("the token lacks the scope {needed}"), Vec::new());
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        Some(response)
    }

    /// A 401 with the RFC 6750 challenge for `refusal`; the body's description is fixed and leaks nothing.
    pub fn unauthorized(&self, refusal: &Refusal) -> Response {
        let (error, description) = match refusal {
            Refusal::Missing => ("invalid_request", "missing or malformed authorization header"),
            Refusal::Invalid(_) => ("invalid_token", "token validation failed"),
        };
        let challenge = format!(
            "Bearer realm=\"{}\", error=\"{error}\", error_description=\"{description}\", resource_metadata=\"{}\"",
            quoted(&self.oauth.realm),
            quoted(&self.metadata_url)
        );
        let mut response = problem(StatusCode::UNAUTHORIZED, description.to_owned(), Vec::new());
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A challenge parameter: no quotes, no line breaks.
fn quoted(value: &str) -> String {
    value.chars().filter(|c| !matches!(c, '"' | '\r' | '\n' | '\\')).collect()
}

/// The token of `Authorization: Bearer <token>`, the scheme matched in any case (RFC 9110 §11.1).
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else { return None };
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' ')).then_some(token)
}

/// Whether a request changes something; `POST …/validate` stores nothing and is a read, a token exchange
/// changes nothing stored, and every tool of `POST /mcp` is read-only.
pub fn is_write(method: &Method, path: &str) -> bool {
    !(matches!(*method, Method::GET | Method::HEAD)
        || (*method == Method::POST
            && (path.ends_with("/validate") || is_exchange(path) || path == crate::names::MCP_PATH)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case_and_one_token_is_required() {
        assert_eq!(bearer_token(&headers(&["Bearer abc"])), Some("abc"));
        assert_eq!(bearer_token(&headers(&["bearer abc"])), Some("abc"));
        assert_eq!(bearer_token(&headers(&["BEARER  abc "])), Some("abc"));
        for refused in
            [&["Basic abc"][..], &["Bearer "], &["Bearer"], &["Bearer a b"], &["Bearer a", "Bearer b"], &[]]
        {
            assert_eq!(bearer_token(&headers(refused)), None, "{refused:?}");
        }
    }

    #[test]
    fn scopes_come_from_scope_and_scp() {
        let principal = |claims: Value| Principal {
            provider: "p".into(),
            subject: None,
            claims: claims.as_object().cloned().unwrap(),
            registry: None,
        };

        assert_eq!(principal(serde_json::json!({"scope": "a b"})).scopes(), ["a", "b"]);
        assert_eq!(principal(serde_json::json!({"scp": ["a", "b"]})).scopes(), ["a", "b"]);
        assert_eq!(principal(serde_json::json!({"scp": "a"})).scopes(), ["a"]);
        assert!(principal(serde_json::json!({})).scopes().is_empty());
    }
}
