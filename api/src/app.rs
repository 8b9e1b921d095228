//! The application: storage prepared, the router with its layers, and a server that shuts down gracefully
//! within a bounded time.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, Method, header};
use registry_shared::bootstrap;
use registry_shared::config::{Config, CorsConfig};
use registry_shared::shutdown::Shutdown;
use registry_shared::store::Store;
use registry_shared::validation::NoPackageChecks;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::middleware::{REQUEST_ID, RequestSpan, ResponseLog, normalize_url};
use crate::registry_set;
use crate::routes;
use crate::state::AppState;

pub struct Application {
    listener: TcpListener,
    router: Router,
    /// Keeps the registry set fresh while the server runs.
    refresh: Pin<Box<dyn Future<Output = ()> + Send>>,
    grace: Duration,
}

impl Application {
    /// Connects the store, reads the stored registry set and binds the address (port 0 picks a free one).
    ///
    /// On SQLite (single node) pending migrations and the configured registries are applied here. On
    /// PostgreSQL only `registry-admin migrate` applies them: a replica that finds the schema behind keeps
    /// `/readiness` at 503 and reads again.
    pub async fn build(config: Config, address: SocketAddr) -> anyhow::Result<Self> {
        let store = bootstrap::open(&config).await.context("opening the database")?;
        Self::on_store(config, store, address).await
    }

    /// As [`Application::build`], on a store the caller opened (the embedded setup shares one SQLite store
    /// between the API and the worker).
    pub async fn on_store(config: Config, store: Store, address: SocketAddr) -> anyhow::Result<Self> {
        let (registries, refresh) = registry_set::load(store.clone(), config.registries.clone()).await;
        let listener = TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
        let grace = config.shutdown.grace;
        let state =
            AppState { store, config: Arc::new(config), packages: Arc::new(NoPackageChecks), registries };
        Ok(Self { listener, router: router(state), refresh: Box::pin(refresh), grace })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish for up to `shutdown.grace`.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let shutdown = Shutdown::when(shutdown);
        let grace = self.grace;
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown.wait());
        let deadline = shutdown.wait();
        tokio::select! {
            result = server => result.context("serving HTTP")?,
            () = self.refresh => anyhow::bail!("the registry set refresher stopped"),
            () = async move {
                deadline.await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!(grace_s = grace.as_secs(), "in-flight requests outlived the grace period"),
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
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::ACCEPT, header::CONTENT_TYPE, header::AUTHORIZATION])
        .expose_headers([REQUEST_ID, header::LOCATION])
}
