//! What every handler can reach.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::http::HeaderMap;
use registry_core::validation::PackageCheck;
use registry_runtime::audit::AuditLog;
use registry_runtime::config::Config;
use registry_store::Store;
use registry_store::publisher::Publisher;

use crate::auth::proofs::Proofs;
use crate::auth::sign_in::SignIn;
use crate::auth::{Authenticator, RegistryTokens};
use crate::page_cache::PageCache;
use crate::rate_limit::Limiter;
use crate::redis_link::RedisLink;
use crate::registry_set::RegistrySet;

/// Cloned by every extractor and middleware that takes `State`: one reference count to bump, not one per
/// part.
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

impl AppState {
    pub fn new(context: AppContext) -> Self {
        Self(Arc::new(context))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

pub struct AppContext {
    pub store: Store,
    pub config: Arc<Config>,
    /// Checks against package registries on publish; [`registry_core::validation::NoPackageChecks`] by
    /// default.
    pub packages: Arc<dyn PackageCheck>,
    /// The registries served: the stored set, not this replica's configuration file.
    pub registries: RegistrySet,
    /// Set once shutdown has begun: readiness answers 503 while requests are still served.
    pub draining: Arc<AtomicBool>,
    /// The token verifier of `auth.mode: oauth`; `None` in anonymous mode.
    pub authenticator: Option<Arc<Authenticator>>,
    /// The web catalogue's sign-in (`ui.signIn`); `None` when nobody signs in.
    pub sign_in: Option<Arc<SignIn>>,
    /// The registry's own tokens (`auth.publisherTokens`), in either mode; `None` when off.
    pub registry_tokens: Option<Arc<RegistryTokens>>,
    /// The clients of the token exchanges that call out (`dns`, `http`, `github-oidc`, `github-at`).
    pub proofs: Arc<Proofs>,
    /// Where the audit events of writes and refusals go.
    pub audit: Arc<AuditLog>,
    /// The rendered reads kept; `None` when `cache.enabled` is false.
    pub pages: Option<PageCache>,
    /// The rate limits; `None` when `rateLimits.enabled` is false.
    pub limiter: Option<Arc<Limiter>>,
    /// The one Redis connection (`redis.url`), with its timeout and breaker; `None` without Redis.
    pub redis: Option<Arc<RedisLink>>,
    /// The caching headers of every read (made by `http_cache::read_headers`).
    pub read_headers: HeaderMap,
}

impl AppContext {
    pub fn publisher(&self) -> Publisher<'_> {
        Publisher {
            store: &self.store,
            validation: &self.config.validation,
            packages: self.packages.as_ref(),
        }
    }
}
