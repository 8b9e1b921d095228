//! The internal listener every process runs (`server.internalAddress`, default `:8081`): `/metrics`,
//! `/health`, `/readiness` and `/version`, with no authentication and no audit, for probes and scrapers
//! inside the deployment, never for the public. The process says what ready means ([`Readiness`]); before
//! each scrape the values read from the database are refreshed ([`Scrape`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::build_info::build_info;

/// Why a process is not ready, or nothing.
pub type Ready = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// What ready means for this process.
pub trait Readiness: Send + Sync + 'static {
    fn check(&self) -> Ready;
}

/// Work done before each scrape: refreshing gauges read from the database.
pub type Scrape = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Clone)]
struct Internal {
    readiness: Arc<dyn Readiness>,
    scrape: Option<Scrape>,
    /// The last check's answer (`UNCHECKED` before the first), to count changes.
    last: Arc<AtomicU8>,
}

const UNCHECKED: u8 = 0;
const READY: u8 = 1;
const NOT_READY: u8 = 2;

impl Internal {
    /// Checks readiness and records it (`registry_ready`, and `registry_readiness_changes_total` when the
    /// answer differs from the last check's), so that probes and scrapes both see flapping.
    async fn check(&self) -> Result<(), String> {
        let answer = self.readiness.check().await;
        let now = if answer.is_ok() { READY } else { NOT_READY };
        let before = self.last.swap(now, Ordering::Relaxed);
        if before != UNCHECKED && before != now {
            metrics::counter!(crate::metrics::READINESS_CHANGES).increment(1);
        }
        metrics::gauge!(crate::metrics::READY).set(if answer.is_ok() { 1.0 } else { 0.0 });
        answer
    }
}

pub fn router(readiness: Arc<dyn Readiness>, scrape: Option<Scrape>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readiness", get(readiness_probe))
        .route("/version", get(|| async { Json(build_info()) }))
        .with_state(Internal { readiness, scrape, last: Arc::new(AtomicU8::new(UNCHECKED)) })
}

async fn metrics(State(internal): State<Internal>) -> Response {
    if let Some(scrape) = &internal.scrape {
        scrape().await;
    }
    // The answer itself is the probe's business; here it is only recorded.
    let _ = internal.check().await;
    match crate::metrics::render() {
        Some(text) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
        }
        None => (StatusCode::NOT_FOUND, "metrics are disabled (metrics.enabled: false)\n").into_response(),
    }
}

async fn readiness_probe(State(internal): State<Internal>) -> Response {
    match internal.check().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not ready", "reason": reason})))
                .into_response()
        }
    }
}

/// Binds the internal listener; a taken or unusable address is an error that names it.
pub async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, std::io::Error> {
    tokio::net::TcpListener::bind(address).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on server.internalAddress {address}: {e}"))
    })
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Ready when the database answers within a second with the schema this build needs: the worker's meaning.
pub struct StoreReadiness(pub registry_store::Store);

impl Readiness for StoreReadiness {
    fn check(&self) -> Ready {
        let store = self.0.clone();
        Box::pin(async move {
            let schema = tokio::time::timeout(std::time::Duration::from_secs(1), store.schema_state())
                .await
                .map_err(|_| "the database did not answer in time".to_owned())?
                .map_err(|_| "the database does not answer".to_owned())?;
            if schema.is_current() {
                Ok(())
            } else {
                Err(format!("the database schema is behind ({} migrations pending)", schema.pending.len()))
            }
        })
    }
}

/// The scrape work of a process on `store`: see [`crate::metrics::refresh_from`].
pub fn scrape_store(store: registry_store::Store) -> Scrape {
    Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { crate::metrics::refresh_from(&store).await })
    })
}
