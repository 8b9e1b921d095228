//! Opaque tokens (not a JWS) go to RFC 7662 introspection, at the providers that configure
//! `introspectionUrl`, in config order (so an opaque token is shown to each of them: configure one). The
//! answer must be `active` with `exp` and our audience, and `iss`, when present, must be the provider's.
//! Every claim it returns is kept, so role rules work on opaque tokens too. Answers are cached by a SHA-256
//! of the token: a valid one until `exp` but at most [`POSITIVE_TTL`], a refusal for [`NEGATIVE_TTL`], so
//! random opaque tokens cannot flood the identity provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::Principal;
use super::jwt::{self, Rejection};
use super::providers::Provider;

pub const POSITIVE_TTL: Duration = Duration::from_secs(60);
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Past this many entries, expired ones are swept; past twice as many, the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// An answer, good until the instant.
type Cached = (Instant, Result<Principal, Rejection>);

#[derive(Default)]
pub struct Introspector {
    /// By SHA-256 of the token.
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

impl Introspector {
    pub async fn introspect(&self, providers: &[Arc<Provider>], token: &str) -> Result<Principal, Rejection> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(cached) = self.cached(&key) {
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
            Ok(principal) => positive_ttl(&principal.claims),
            Err(_) => NEGATIVE_TTL,
        };
        self.remember(key, ttl, outcome.clone());
        outcome
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Result<Principal, Rejection>> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(key).filter(|(until, _)| *until > Instant::now()).map(|(_, outcome)| outcome.clone())
    }

    fn remember(&self, key: [u8; 32], ttl: Duration, outcome: Result<Principal, Rejection>) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_ENTRIES {
            let now = Instant::now();
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() >= 2 * MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now() + ttl, outcome));
    }
}

/// Until `exp`, at most [`POSITIVE_TTL`].
fn positive_ttl(claims: &Map<String, Value>) -> Duration {
    let left = claims.get("exp").and_then(Value::as_i64).map(|exp| exp - chrono::Utc::now().timestamp());
    left.and_then(|secs| u64::try_from(secs).ok())
        .map_or(NEGATIVE_TTL, |secs| Duration::from_secs(secs).min(POSITIVE_TTL))
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
