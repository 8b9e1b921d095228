//! Opaque tokens (not a JWS) go to RFC 7662 introspection, at the providers that configure
//! `introspectionUrl`, in config order (so an opaque token is shown to each of them: configure one). The
//! answer must be `active` with `exp` and our audience, and `iss`, when present, must be the provider's.
//! Every claim it returns is kept, so role rules work on opaque tokens too. Answers are cached by a SHA-256
//! of the token: a valid one until `exp` but at most [`POSITIVE_TTL`], a refusal for [`NEGATIVE_TTL`], so
//! random opaque tokens cannot flood the identity provider.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::Principal;
use super::jwt::{self, Rejection};
use super::providers::Provider;
use super::token_cache::{self, TokenCache};

pub const POSITIVE_TTL: Duration = Duration::from_secs(60);
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Introspector {
    cache: TokenCache<Result<Principal, Rejection>>,
}

impl Introspector {
    pub async fn introspect(&self, providers: &[Arc<Provider>], token: &str) -> Result<Principal, Rejection> {
        let key = token_cache::key(token);
        if let Some(cached) = self.cache.get(&key) {
            return cached;
        }
        let mut outcome = Err(Rejection::NotJws);
        for provider in providers.iter().filter(|p| p.config.introspection_url.is_some()) {
            outcome = ask(provider, token).await;
            if outcome.is_ok() {
                break;
            }
        }
        let ttl = match &outcome {
            Ok(principal) => token_cache::until_exp(&principal.claims, POSITIVE_TTL).unwrap_or(NEGATIVE_TTL),
            Err(_) => NEGATIVE_TTL,
        };
        self.cache.put(key, ttl, outcome.clone());
        outcome
    }
}

async fn ask(provider: &Provider, token: &str) -> Result<Principal, Rejection> {
    let config = &provider.config;
    let Some(url) = &config.introspection_url else { return Err(Rejection::NotJws) };
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
        .map_err(|e| Rejection::Introspection(format!("{}: {e}", config.name)))?;
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
    })
}
