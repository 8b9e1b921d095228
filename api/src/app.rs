//! The application: storage prepared, the router with its layers, and a server that drains and shuts down
//! gracefully within bounded times.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, Method, header};
use registry_core::validation::NoPackageChecks;
use registry_runtime::audit::AuditLog;
use registry_runtime::bootstrap;
use registry_runtime::config::{AuthMode, Config, CorsConfig, ShutdownConfig, format_duration};
use registry_runtime::shutdown::{Shutdown, Signal};
use registry_store::Store;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::proofs::Proofs;
use crate::auth::sign_in::SignIn;
use crate::auth::{Authenticator, RegistryTokens};
use crate::http_cache::read_headers;
use crate::middleware::{RequestIds, RequestSpan, ResponseLog};
use crate::names::{MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, REQUEST_ID};
use crate::page_cache::PageCache;
use crate::pipeline::Steps;
use crate::rate_limit::Limiter;
use crate::redis_link::RedisLink;
use crate::registry_set;
use crate::routes;
use crate::server::{self, Limits, default_max_connections};
use crate::state::{AppContext, AppState};
use registry_runtime::outbound::HostTable;

/// How long shutdown waits for the audit file to take the last events.
const AUDIT_FLUSH: Duration = Duration::from_secs(5);

pub struct Application {
    listener: TcpListener,
    router: Router,
    /// The internal listener's routes: metrics and probes.
    internal: Router,
    /// Keeps the registry set fresh while the server runs.
    refresh: Pin<Box<dyn Future<Output = ()> + Send>>,
    config: Arc<Config>,
    draining: Arc<AtomicBool>,
    audit: Arc<AuditLog>,
}

/// The token verifier of oauth mode; none in anonymous mode.
fn authenticator(config: &Config) -> anyhow::Result<Option<Arc<Authenticator>>> {
    let (AuthMode::Oauth, Some(oauth)) = (&config.auth.mode, &config.auth.oauth) else { return Ok(None) };
    if config.auth.authz.is_none() {
        tracing::warn!(
            "auth.authz is not set: any caller with a valid token may publish, edit, change and delete versions \
             and sync registries"
        );
    }
    let authenticator = Authenticator::new(oauth).map_err(|e| anyhow::anyhow!("auth.oauth: {e}"))?;
    Ok(Some(Arc::new(authenticator)))
}

/// What runs for as long as the server does: the registry set's refresh, the key sets' of the identity
/// providers and of GitHub Actions (they load in the background, so an issuer that is down never blocks
/// start-up), and the audit file's reopening on SIGHUP. One that ends is a failure.
fn background(
    refresh: impl Future<Output = ()> + Send + 'static,
    authenticator: Option<&Authenticator>,
    proofs: &Proofs,
    audit: Arc<AuditLog>,
) -> impl Future<Output = ()> + Send + 'static {
    let keys = authenticator.map(Authenticator::keep_keys_fresh);
    let github_keys = proofs.keep_keys_fresh();
    let hangups = audit.reopen_on_hangup();
    async move {
        let keys = async move {
            match keys {
                Some(keys) => keys.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = refresh => {}
            () = keys => {}
            () = github_keys => {}
            () = hangups => {}
        }
    }
}

impl Application {
    /// Connects the store, reads the stored registry set and binds the address (port 0 picks a free one).
    ///
    /// On SQLite (single node) pending migrations and the configured registries are applied here. On
    /// PostgreSQL only `registry-admin migrate` applies them: a replica that finds the schema behind keeps
    /// `/readiness` at 503 and reads again.
    pub async fn build(config: Config, address: SocketAddr) -> anyhow::Result<Self> {
        let store = bootstrap::open_serving(&config).await.context("opening the database")?;
        Self::on_store(config, store, address).await
    }

    /// As [`Application::build`], on a store the caller opened (the embedded setup shares one SQLite store
    /// between the API and the worker).
    pub async fn on_store(config: Config, store: Store, address: SocketAddr) -> anyhow::Result<Self> {
        Self::assemble(config, store, address, HostTable::default()).await
    }

    /// As [`Application::build`], where the `http` token exchange resolves the names of `hosts` to their
    /// fixed addresses instead of asking DNS (tests stand a domain in on loopback this way); its
    /// private-address guard applies to those addresses as to any.
    pub async fn build_with_hosts(
        config: Config,
        address: SocketAddr,
        hosts: HostTable,
    ) -> anyhow::Result<Self> {
        let store = bootstrap::open_serving(&config).await.context("opening the database")?;
        Self::assemble(config, store, address, hosts).await
    }

    async fn assemble(
        config: Config,
        store: Store,
        address: SocketAddr,
        hosts: HostTable,
    ) -> anyhow::Result<Self> {
        let (registries, refresh) = registry_set::load(store.clone(), config.registries.clone()).await;
        let authenticator = authenticator(&config)?;
        let sign_in = match (&config.ui.sign_in, authenticator.as_deref()) {
            (Some(sign_in), Some(authenticator)) => {
                Some(Arc::new(SignIn::new(sign_in, authenticator).map_err(anyhow::Error::msg)?))
            }
            _ => None,
        };
        let registry_tokens =
            config.auth.publisher_tokens.as_ref().map(RegistryTokens::load).transpose()?.map(Arc::new);
        let proofs = match &config.auth.publisher_tokens {
            Some(tokens) => Proofs::new(&tokens.methods, hosts).map_err(anyhow::Error::msg)?,
            None => Proofs::default(),
        };
        let audit = Arc::new(AuditLog::open(&config.audit).map_err(anyhow::Error::msg)?);
        let background = background(refresh, authenticator.as_deref(), &proofs, audit.clone());
        let listener = TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
        let config = Arc::new(config);
        let draining = Arc::new(AtomicBool::new(false));
        let protected_reads = authenticator.is_some() && !config.auth.public_reads;
        let redis =
            config.redis.as_ref().map(RedisLink::new).transpose().map_err(anyhow::Error::msg)?.map(Arc::new);
        let state = AppState::new(AppContext {
            store,
            config: config.clone(),
            packages: Arc::new(NoPackageChecks),
            registries,
            draining: draining.clone(),
            sign_in,
            authenticator,
            registry_tokens,
            proofs: Arc::new(proofs),
            audit: audit.clone(),
            pages: PageCache::new(&config.cache, redis.clone().zip(config.redis.as_ref().map(|r| r.ttl))),
            limiter: config.rate_limits.enabled.then(|| {
                let limiter = Arc::new(Limiter::new(redis.clone()));
                limiter.keep_pruned();
                limiter
            }),
            redis,
            read_headers: read_headers(&config.cache, protected_reads),
        });
        let store = state.store.clone();
        let internal = registry_runtime::internal::router(
            Arc::new(routes::ops::ApiReadiness(state.clone())),
            Some(registry_runtime::internal::scrape_store(store)),
        );
        Ok(Self {
            listener,
            router: router(state),
            internal,
            refresh: Box::pin(background),
            config,
            draining,
            audit,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The internal listener's routes (`/metrics`, `/health`, `/readiness`, `/version`), for the process to
    /// serve on `server.internalAddress`.
    pub fn internal_router(&self) -> Router {
        self.internal.clone()
    }

    /// Serves until `shutdown` resolves, then stops as on SIGTERM (see [`Application::serve`]).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        self.serve(Shutdown::when(shutdown)).await
    }

    /// Serves until `shutdown`. Then `/readiness` turns 503 at once; after SIGTERM the server goes on serving
    /// for `shutdown.drain`, so load balancers stop sending; then it stops accepting and lets in-flight
    /// requests finish for up to `shutdown.grace`.
    pub async fn serve(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let server = &self.config.server;
        // The database connections take descriptors too, and Redis one.
        let pools = self.config.database.serving_connections() + 1;
        let limits = Limits {
            header_read_timeout: server.header_read_timeout,
            idle_timeout: server.idle_timeout,
            request_timeout: server.request_timeout,
            max_connections: server
                .max_connections
                .map_or_else(|| default_max_connections(pools), |n| n as usize),
        };
        tracing::info!(server.max_connections = limits.max_connections, "accepting connections");
        let ShutdownConfig { drain, grace } = self.config.shutdown.clone();
        let draining = self.draining;
        let stop_accepting = async move {
            shutdown.wait().await;
            draining.store(true, Ordering::SeqCst);
            if shutdown.signal() == Some(Signal::Terminate) && !drain.is_zero() {
                tracing::info!(drain = %format_duration(drain), "draining: readiness is 503, requests are still served");
                tokio::time::sleep(drain).await;
            }
        };
        tokio::select! {
            finished = server::serve(self.listener, self.router, limits, stop_accepting, grace) => {
                if !finished {
                    tracing::warn!(grace = %format_duration(grace), "in-flight requests outlived the grace period");
                }
            }
            () = self.refresh => anyhow::bail!("the registry set or key set refresher, or the audit file's SIGHUP listener, stopped"),
        }
        if tokio::time::timeout(AUDIT_FLUSH, self.audit.flush()).await.is_err() {
            tracing::warn!("the audit file did not take the last events within {AUDIT_FLUSH:?}");
        }
        Ok(())
    }
}

/// The routes with their layers, outermost first: request ids, request logs, CORS, compression, and the
/// steps of [`Steps`] (metrics, the audit trail, the request timeout, URL rules, authentication, the rate
/// limits).
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.config.cors);
    let mut routes = routes::router();
    if state.config.mcp.enabled {
        let mcp = tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn(crate::mcp::observe))
            .layer(axum::middleware::from_fn_with_state(state.clone(), crate::mcp::replay))
            .service(crate::mcp::service(state.clone()));
        routes = routes.route_service(crate::mcp::MCP_PATH, mcp);
    }
    if state.config.ui.enabled {
        routes = routes.merge(crate::ui::router());
    }
    // One layer of the whole stack: axum boxes each `Router::layer` into a route of its own, and every
    // request cloned each of those boxes again, inside one another.
    let stack = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestIds))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(RequestSpan).on_response(ResponseLog))
        .layer(cors)
        .layer(CompressionLayer::new())
        .layer(Steps::new(state.clone()));
    routes.layer(stack).with_state(state)
}

fn cors_layer(config: &CorsConfig) -> CorsLayer {
    let origins = if config.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(config.allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::ACCEPT,
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            // What a browser MCP client sends to /mcp.
            MCP_PROTOCOL_VERSION,
            MCP_METHOD,
            MCP_NAME,
            MCP_SESSION_ID,
        ])
        // A browser client follows the auth flow from `WWW-Authenticate`.
        .expose_headers([
            REQUEST_ID,
            header::LOCATION,
            header::WWW_AUTHENTICATE,
            header::ETAG,
            MCP_SESSION_ID,
            crate::rate_limit::http::RATELIMIT_POLICY.clone(),
            crate::rate_limit::http::RATELIMIT.clone(),
            header::RETRY_AFTER,
        ])
}
