//! One trusted token issuer at run time: its HTTP client, and its key set, loaded in the background (never
//! blocking start-up), refreshed on a timer, and fetched again when a token names an unknown `kid`, at most
//! once per [`COOL_DOWN`], whoever asks (a flood of random kids is one request to the provider, not a
//! flood).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKey, JsonWebKeyId, JsonWebKeySetUrl};
use registry_runtime::config::OAuthProvider;

use super::http::ProviderClient;
use super::jwt::{Jws, Rejection};
use registry_runtime::outbound::error_chain;

/// How often a loaded key set is fetched again.
pub const REFRESH: Duration = Duration::from_secs(15 * 60);
/// The least time between two fetches that an unknown `kid` may trigger.
pub const COOL_DOWN: Duration = Duration::from_secs(30);
/// How long a token waits for its provider's first key set to load.
pub const FIRST_LOAD_WAIT: Duration = Duration::from_secs(2);

pub struct Provider {
    pub config: OAuthProvider,
    pub client: ProviderClient,
    keys: RwLock<Option<Arc<Vec<CoreJsonWebKey>>>>,
    /// The key set's URL: configured, or found by discovery.
    jwks_url: tokio::sync::Mutex<Option<JsonWebKeySetUrl>>,
    /// When an unknown `kid` last caused a fetch; held while one runs, so fetches never overlap.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    /// Whether a key set has loaded once.
    loaded: tokio::sync::watch::Sender<bool>,
}

impl Provider {
    pub fn new(config: OAuthProvider) -> Result<Self, String> {
        let client = ProviderClient::new(&config)?;
        let jwks_url = config.jwks_url.as_ref().map(|url| JsonWebKeySetUrl::from_url(url.clone()));
        Ok(Self {
            config,
            client,
            keys: RwLock::new(None),
            jwks_url: tokio::sync::Mutex::new(jwks_url),
            last_refetch: tokio::sync::Mutex::new(None),
            loaded: tokio::sync::watch::channel(false).0,
        })
    }

    fn lookup(&self, kid: &str) -> Option<CoreJsonWebKey> {
        let keys = self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let wanted = JsonWebKeyId::new(kid.to_owned());
        keys.as_ref()?.iter().find(|key| key.key_id() == Some(&wanted)).cloned()
    }

    fn is_loaded(&self) -> bool {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).is_some()
    }

    /// The key `kid`. Before the first key set has loaded (the background loader is on it), it waits for
    /// it up to [`FIRST_LOAD_WAIT`]. An unknown `kid` in a loaded set triggers one fetch per [`COOL_DOWN`] at
    /// most; callers that arrive during a fetch wait for it instead of starting their own.
    pub async fn key(&self, kid: &str) -> Result<CoreJsonWebKey, Rejection> {
        if let Some(key) = self.lookup(kid) {
            return Ok(key);
        }
        if !self.is_loaded() {
            let mut loaded = self.loaded.subscribe();
            let waited = tokio::time::timeout(FIRST_LOAD_WAIT, loaded.wait_for(|loaded| *loaded)).await;
            return match (waited, self.lookup(kid)) {
                (_, Some(key)) => Ok(key),
                (Ok(Ok(_)), None) => Err(Rejection::UnknownKey(super::jwt::clip(kid))),
                _ => Err(Rejection::KeysNotLoaded),
            };
        }
        let mut last = self.last_refetch.lock().await;
        if let Some(key) = self.lookup(kid) {
            return Ok(key);
        }
        if last.is_none_or(|at| at.elapsed() >= COOL_DOWN) {
            *last = Some(Instant::now());
            if let Err(error) = self.fetch().await {
                tracing::warn!(provider = %self.config.name, error = %error, "cannot fetch the key set");
            }
            if let Some(key) = self.lookup(kid) {
                return Ok(key);
            }
        }
        Err(Rejection::UnknownKey(super::jwt::clip(kid)))
    }

    /// Checks `jws`'s signature with this provider's key that its `kid` names, under one of the provider's
    /// algorithms (and its type, when `at+jwt` is required). The claims are the caller's to check.
    pub async fn verify_signature(&self, jws: &Jws<'_>) -> Result<(), Rejection> {
        let alg = jws.algorithm(&self.config.algorithms)?;
        if self.config.require_at_jwt {
            jws.check_type()?;
        }
        let kid = jws.header.kid.as_deref().ok_or(Rejection::NoKeyId)?;
        let key = self.key(kid).await?;
        jws.verify_signature(&key, alg)
    }

    /// Fetches the key set (discovering its URL first if need be) and keeps it; on failure the last set
    /// stays.
    async fn fetch(&self) -> Result<usize, String> {
        let fetched = self.fetch_keys().await;
        let outcome = if fetched.is_ok() { "ok" } else { "failed" };
        metrics::counter!(registry_runtime::metrics::AUTH_JWKS_REFRESHES, "provider" => self.config.name.clone(), "outcome" => outcome)
            .increment(1);
        fetched
    }

    async fn fetch_keys(&self) -> Result<usize, String> {
        let http = &self.client;
        let mut jwks_url = self.jwks_url.lock().await;
        let keys = match jwks_url.as_ref() {
            Some(url) => CoreJsonWebKeySet::fetch_async(url, http).await.map_err(|e| error_chain(&e))?,
            None => {
                let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| e.to_string())?;
                let metadata =
                    CoreProviderMetadata::discover_async(issuer, http).await.map_err(|e| error_chain(&e))?;
                *jwks_url = Some(metadata.jwks_uri().clone());
                metadata.jwks().clone()
            }
        };
        // An encryption key may share a `kid` with a signing key; only signing keys can verify a token.
        let keys: Vec<CoreJsonWebKey> = keys
            .keys()
            .iter()
            .filter(|key| key.key_use().is_none_or(openidconnect::JsonWebKeyUse::allows_signature))
            .cloned()
            .collect();
        let count = keys.len();
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(keys));
        self.loaded.send_replace(true);
        Ok(count)
    }

    /// Loads the key set, retrying with backoff until it loads, then fetches it again every [`REFRESH`].
    /// Runs until dropped.
    pub async fn keep_fresh(self: Arc<Self>) {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(60))
            .with_jitter()
            .without_max_times()
            .build();
        let mut failing = false;
        loop {
            let wait = match self.fetch().await {
                Ok(keys) => {
                    tracing::info!(provider = %self.config.name, keys, "key set loaded");
                    failing = false;
                    REFRESH
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(provider = %self.config.name, error = %error, "cannot load the key set; retrying, and its tokens are refused until it loads");
                        failing = true;
                    }
                    if self.is_loaded() {
                        REFRESH.min(Duration::from_secs(60))
                    } else {
                        delays.next().unwrap_or(REFRESH)
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}
