//! The extension API: each registry's configuration and sync status.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use registry_core::kubernetes;
use registry_runtime::config::{RegistryConfig, Source, format_duration};
use registry_store::jobs::{Enqueued, SyncRegistry, Trigger};
use registry_store::{SyncPhase, SyncStatus};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::WriteAccess;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, registry_set, stored_registry};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/extension/v0/registries", get(list_registries))
        .route("/extension/v0/registries/{name}", get(get_registry))
        .route("/extension/v0/registries/{name}/sync", post(sync_registry))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryListOut {
    pub registries: Vec<RegistryOut>,
}

/// A registry as configured (secrets redacted), with its sync state.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryOut {
    pub name: String,
    /// file, git, api, managed or kubernetes.
    #[serde(rename = "type")]
    pub kind: String,
    /// upstream or toolhive.
    pub format: String,
    /// The source's settings, as in the configuration; credentials in URLs are masked.
    #[schema(value_type = Object)]
    pub source: Value,
    #[schema(value_type = Object)]
    pub filter: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicyOut>,
    pub sync_status: SyncStatusOut,
    /// The prober's settings, when probing is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub probe: Option<Value>,
    /// A kubernetes registry's discovery and watcher.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesOut>,
}

/// What a kubernetes registry's discovery found and how it is watched.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesOut {
    /// The last successful discovery is older than `staleAfter` (or none has succeeded and the last attempt
    /// failed), or a namespace × kind has failed to list for longer: the entries may not match the cluster.
    pub stale: bool,
    /// e.g. `30m`.
    pub stale_after: String,
    /// The last discovery: the parts listed (kind, namespace, the API version that answered), the parts
    /// that failed with their errors (their entries are kept), the objects skipped with reasons, warnings,
    /// name clashes, counts, and what was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub discovery: Option<Value>,
    /// The worker watching the cluster, its state, its watches, the events and changes seen, the last event,
    /// change and error, and when it was written: when it changes (at most every 5 s) and at least every
    /// 30 s, so an older `writtenAt` means that no worker watches.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub watcher: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicyOut {
    /// How often the registry syncs, e.g. `5m`.
    pub interval: String,
    /// The most entries its source may list.
    pub max_entries: u64,
    /// For an api source: how often a full scrape runs in place of an incremental pull, e.g. `24h`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_sync_interval: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatusOut {
    /// idle, queued, syncing, complete or failed.
    pub phase: String,
    /// The last successful sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<DateTime<Utc>>,
    /// Consecutive failed attempts.
    pub attempt_count: i32,
    pub server_count: i32,
    /// The last error, or a note on the registry's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_sync_time: Option<DateTime<Utc>>,
}

impl From<Option<SyncStatus>> for SyncStatusOut {
    fn from(status: Option<SyncStatus>) -> Self {
        let Some(status) = status else {
            return Self {
                phase: SyncPhase::Idle.as_str().to_owned(),
                last_sync_time: None,
                last_attempt: None,
                attempt_count: 0,
                server_count: 0,
                message: None,
                duration_ms: None,
                next_sync_time: None,
            };
        };
        Self {
            phase: status.phase.as_str().to_owned(),
            last_sync_time: status.last_success_at,
            last_attempt: status.last_attempt_at,
            attempt_count: status.attempts,
            server_count: status.server_count,
            message: status.last_error.or(status.message),
            duration_ms: status.last_duration_ms,
            next_sync_time: status.next_due_at,
        }
    }
}

pub(crate) fn registry_out(registry: &RegistryConfig, status: Option<SyncStatus>) -> RegistryOut {
    let kind = registry.source.kind();
    let kubernetes = match &registry.source {
        Source::Kubernetes(source) => {
            let after = source.stale_after_for(registry.sync_interval);
            Some(KubernetesOut {
                stale: status.as_ref().is_some_and(|status| kubernetes::is_stale(status, after, Utc::now())),
                stale_after: format_duration(after),
                discovery: status.as_ref().and_then(|status| status.discovery.clone()),
                watcher: status.as_ref().and_then(|status| status.watcher.clone()),
            })
        }
        _ => None,
    };
    // Stored as `{"<type>": {settings}}` (or just `"managed"`); the type is a field of its own here.
    let source = match serde_json::to_value(&registry.source) {
        // The one key of a serialised source is its kind.
        Ok(Value::Object(mut outer)) if outer.len() == 1 => outer.remove(kind).unwrap_or_default(),
        _ => Value::Object(Default::default()),
    };
    RegistryOut {
        name: registry.name.to_string(),
        format: registry.format.as_str().to_owned(),
        source,
        // Lists of strings always serialise.
        filter: serde_json::to_value(&registry.filter).unwrap_or_default(),
        sync_policy: registry.sync_interval.map(|interval| SyncPolicyOut {
            interval: format_duration(interval),
            max_entries: registry.sync_policy.max_entries,
            full_sync_interval: matches!(registry.source, Source::Api(_))
                .then(|| format_duration(registry.sync_policy.full_sync_interval)),
        }),
        sync_status: status.into(),
        // Durations and numbers always serialise.
        probe: registry.probe.enabled.then(|| serde_json::to_value(registry.probe).unwrap_or_default()),
        kind: kind.to_owned(),
        kubernetes,
    }
}

/// Every registry, in config order (the aggregated view's precedence).
#[utoipa::path(
    get,
    path = "/extension/v0/registries",
    tag = "registries",
    responses((status = 200, description = "All registries", body = RegistryListOut))
)]
pub async fn list_registries(State(state): State<AppState>) -> Result<Json<RegistryListOut>, ApiError> {
    let mut registries = Vec::new();
    for registry in registry_set(&state)?.iter() {
        let status = state.store.sync_status(&registry.name).await?;
        registries.push(registry_out(registry, status));
    }
    Ok(Json(RegistryListOut { registries }))
}

/// One registry.
#[utoipa::path(
    get,
    path = "/extension/v0/registries/{name}",
    tag = "registries",
    params(("name" = String, Path, description = "Registry name")),
    responses(
        (status = 200, description = "The registry", body = RegistryOut),
        (status = 404, description = "Unknown registry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_registry(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<RegistryOut>, ApiError> {
    let registry = stored_registry(&state, &name)?;
    let status = state.store.sync_status(&registry.name).await?;
    Ok(Json(registry_out(&registry, status)))
}

/// The job a request queued (a sync, a probe pass), or found queued already.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobOut {
    pub job_id: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_queued: bool,
}

/// Sync a registry now. A sync already queued or running is not queued twice.
#[utoipa::path(
    post,
    path = "/extension/v0/registries/{name}/sync",
    tag = "registries",
    params(("name" = String, Path, description = "Registry name")),
    responses(
        (status = 202, description = "Queued, or already queued", body = JobOut),
        (status = 401, description = "Writes need authentication", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A managed registry is never synced", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sync_registry(
    State(state): State<AppState>,
    access: WriteAccess,
    ApiPath(name): ApiPath<String>,
    headers: axum::http::HeaderMap,
) -> Result<(StatusCode, Json<JobOut>), ApiError> {
    let enqueued = queue_sync(&state, &access, &name, &headers).await?;
    let already_queued = matches!(enqueued, Enqueued::AlreadyQueued { .. });
    Ok((StatusCode::ACCEPTED, Json(JobOut { job_id: enqueued.job_id().to_owned(), already_queued })))
}

/// Queues a manual sync of the stored registry `name`, unless one is queued or running already: what the
/// API's and the web catalogue's "sync now" do.
pub async fn queue_sync(
    state: &AppState,
    access: &WriteAccess,
    name: &str,
    headers: &axum::http::HeaderMap,
) -> Result<Enqueued, ApiError> {
    let config = stored_registry(state, name)?;
    access.note_registry(&config.name);
    if config.source == Source::Managed {
        return Err(ApiError::Conflict(format!(
            "registry {name} is managed: it is written through the API and never synced"
        )));
    }
    let mut job = SyncRegistry::new(config.name.clone(), Trigger::Manual, None);
    job.request_id =
        headers.get(&crate::names::REQUEST_ID).and_then(|id| id.to_str().ok()).map(str::to_owned);
    Ok(job.enqueue(&state.store, None).await?)
}
