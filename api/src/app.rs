//! The application: storage prepared, the router with its layers, and a server that shuts down gracefully
//! within a bounded time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, Method, header};
use registry_shared::config::{Config, CorsConfig, RegistryConfig, StorageConfig};
use registry_shared::shutdown::Shutdown;
use registry_shared::store::Store;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::middleware::{REQUEST_ID, RequestSpan, ResponseLog, normalize_url};
use crate::routes;
use crate::state::AppState;

/// How long in-flight requests may run on after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How often a replica retries preparing its registries while the database is down or not migrated.
const PREPARE_RETRY: Duration = Duration::from_secs(5);

pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Connects the store, prepares the registries and binds the address (port 0 picks a free one).
    ///
    /// On SQLite (single node) pending migrations are applied here. On PostgreSQL only `registry-admin
    /// migrate` applies them: a replica that finds the schema behind keeps `/readiness` at 503 and retries.
    pub async fn build(config: Config, address: SocketAddr) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database).await.context("opening the database")?;
        if let StorageConfig::Sqlite { path } = &config.database {
            let applied = Store::migrate(&config.database).await.context("migrating the SQLite database")?;
            tracing::info!(database.path = %path.display(), migrations = applied.len(), "SQLite schema is up to date");
        }
        if !prepare_registries(&store, &config.registries).await {
            tokio::spawn(retry_prepare(store.clone(), config.registries.clone()));
        }
        let listener = TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
        let state = AppState { store, config: Arc::new(config) };
        Ok(Self { listener, router: router(state) })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish for up to [`SHUTDOWN_GRACE`].
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let shutdown = Shutdown::when(shutdown);
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown.wait());
        let deadline = shutdown.wait();
        tokio::select! {
            result = server => result.context("serving HTTP")?,
            () = async move {
                deadline.await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "in-flight requests outlived the grace period"),
        }
        Ok(())
    }
}

/// The routes with their layers, innermost first: URL rules, request logs, compression, CORS, request ids.
pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.config.cors);
    routes::router()
        .layer(axum::middleware::from_fn(normalize_url))
        .layer(TraceLayer::new_for_http().make_span_with(RequestSpan).on_response(ResponseLog))
        .layer(CompressionLayer::new())
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

fn cors_layer(config: &CorsConfig) -> CorsLayer {
    let origins = if config.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(config.allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers([header::ACCEPT, header::CONTENT_TYPE, header::AUTHORIZATION])
        .expose_headers([REQUEST_ID])
}

/// Makes the stored registries match the configuration, once the schema allows it. Returns whether it did.
async fn prepare_registries(store: &Store, registries: &[RegistryConfig]) -> bool {
    match store.schema_state().await {
        Ok(schema) if schema.is_current() => match store.sync_registries(registries).await {
            Ok(()) => return true,
            Err(e) => tracing::error!(error = %e, "cannot store the configured registries"),
        },
        Ok(schema) => tracing::error!(
            migrations.pending = schema.pending.len(),
            "the database schema is behind: run `registry-admin migrate --config <file>`; /readiness stays 503 until then"
        ),
        Err(e) => tracing::warn!(error = %e, "the database does not answer yet"),
    }
    false
}

async fn retry_prepare(store: Store, registries: Vec<RegistryConfig>) {
    loop {
        tokio::time::sleep(PREPARE_RETRY).await;
        if prepare_registries(&store, &registries).await {
            tracing::info!("registries stored; the database is ready");
            return;
        }
    }
}
