//! Opaque tokens (not a JWS) go to RFC 7662 introspection, at the providers that configure
//! `introspectionUrl`, in config order (so an opaque token is shown to each of them: configure one). The
//! answer must be `active` with `exp` and our audience, and `iss`, when present, must be the provider's.
//! Every claim it returns is kept, so role rules work on opaque tokens too. Answers are cached by a SHA-256
//! of the token: a valid one until `exp` but at most [`POSITIVE_TTL`], a refusal for [`NEGATIVE_TTL`], and at
//! most [`CONCURRENT_CALLS`] calls run at once, so random opaque tokens cannot flood the identity provider.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::Principal;
use super::jwt::{self, Rejection};
use super::providers::Provider;
use super::token_cache::{self, TokenCache};
use registry_runtime::outbound::error_chain;

pub const POSITIVE_TTL: Duration = Duration::from_secs(60);
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Introspection calls in flight at once, for all providers: a flood of distinct tokens waits here instead of
/// reaching the identity provider all at once.
const CONCURRENT_CALLS: usize = 8;

pub struct Introspector {
    /// Apart, so that a flood of refused tokens never evicts the callers who hold good ones.
    accepted: TokenCache<Principal>,
    refused: TokenCache<Rejection>,
    calls: tokio::sync::Semaphore,
}

impl Default for Introspector {
    fn default() -> Self {
        Self {
            accepted: TokenCache::default(),
            refused: TokenCache::default(),
            calls: tokio::sync::Semaphore::new(CONCURRENT_CALLS),
        }
    }
}

impl Introspector {
    /// `key` is the token's [`token_cache::key`].
    pub async fn introspect(
        &self,
        providers: &[Arc<Provider>],
        token: &str,
        key: token_cache::Key,
    ) -> Result<Principal, Rejection> {
        if let Some(known) = self.known(&key) {
            return known;
        }
        let _permit = self.calls.acquire().await.map_err(|_| Rejection::NotIntrospected)?;
        // Another caller with the same token may have asked while this one waited.
        if let Some(known) = self.known(&key) {
            return known;
        }
        let mut outcome = Err(Rejection::NotIntrospected);
        for provider in providers.iter().filter(|p| p.config.introspection_url.is_some()) {
            outcome = ask(provider, token).await;
            if outcome.is_ok() {
                break;
            }
        }
        match &outcome {
            // An answer accepted inside the leeway, past `exp`, is not remembered.
            Ok(principal) => {
                if let Some(ttl) = token_cache::until_exp(&principal.claims, POSITIVE_TTL) {
                    self.accepted.put(key, ttl, principal.clone());
                }
            }
            Err(rejection) => self.refused.put(key, NEGATIVE_TTL, rejection.clone()),
        }
        outcome
    }

    fn known(&self, key: &token_cache::Key) -> Option<Result<Principal, Rejection>> {
        self.accepted.get(key).map(Ok).or_else(|| self.refused.get(key).map(Err))
    }
}

async fn ask(provider: &Provider, token: &str) -> Result<Principal, Rejection> {
    let config = &provider.config;
    let Some(url) = &config.introspection_url else { return Err(Rejection::NotIntrospected) };
    let secret = match &config.client_secret_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            Rejection::Introspection(format!("cannot read clientSecretFile {}: {e}", path.display()))
        })?),
        None => None,
    };
    let basic = config.client_id.as_deref().zip(secret.as_deref().map(str::trim));
    let form = [("token", token), ("token_type_hint", "access_token")];
    let response = provider
        .client
        .post_form(url, &form, basic)
        .await
        .map_err(|e| Rejection::Introspection(format!("{}: {}", config.name, error_chain(&e))))?;
    if !response.status().is_success() {
        return Err(Rejection::Introspection(format!("{} answered {}", config.name, response.status())));
    }
    let claims: Map<String, Value> = serde_json::from_slice(response.body())
        .map_err(|e| Rejection::Introspection(format!("{}: not a JSON object: {e}", config.name)))?;
    if claims.get("active") != Some(&Value::Bool(true)) {
        return Err(Rejection::Introspection(format!("{}: inactive", config.name)));
    }
    if claims.get("iss").is_some_and(|iss| iss.as_str() != Some(config.issuer.as_str())) {
        return Err(Rejection::Introspection(format!("{}: another issuer", config.name)));
    }
    jwt::check_claims(&claims, &config.audience, config.leeway, chrono::Utc::now())?;
    Ok(Principal {
        provider: config.name.clone(),
        subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        claims,
        registry: None,
    })
}
