//! The extension API of the prober: what it found at each remote of a server version, the latest outcome of
//! every remote for operators, and a pass asked for now. The v0.1 reads never change: their bodies stay what
//! the publisher stored.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use registry_core::digest::{hex, unhex};
use registry_core::model::ListMetadata;
use registry_core::probe::{Outcome, ProbeResult, ToolChanges};
use registry_store::jobs::{Enqueued, ProbeRegistry, ProbeScope, Trigger};
use registry_store::probes::{ProbeCursor, ProbeFilter, RemoteProbes, StoredProbe, ToolChange};
use registry_store::{Scope, VersionSelector};
use serde::Serialize;
use utoipa::ToSchema;

use super::registries::JobOut;
use super::servers::server_not_found;
use crate::auth::WriteAccess;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, DEFAULT_LIMIT, ProbeParams, stored_registry};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/extension/v0/registries/{name}/probe", post(probe_registry))
        .route(
            "/extension/v0/registries/{registryName}/servers/{serverName}/versions/{version}/probe",
            get(get_version_probes),
        )
        .route("/extension/v0/probes", get(list_probes))
}

/// One probe of one remote, with the server version it belongs to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeOut {
    pub registry: String,
    pub name: String,
    pub version: String,
    #[serde(flatten)]
    pub result: ProbeResult,
    /// The hash of the tool list of an `ok` probe: it changes when any kept field of any tool does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_count: Option<u32>,
}

impl From<StoredProbe> for ProbeOut {
    fn from(probe: StoredProbe) -> Self {
        Self {
            registry: probe.registry.to_string(),
            name: probe.name,
            version: probe.version,
            result: probe.result,
            tools_hash: probe.tools_hash,
            tool_count: probe.tool_count,
        }
    }
}

/// A change of a remote's tool list between two probes, by tool name.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolChangeOut {
    pub changed_at: DateTime<Utc>,
    pub old_hash: String,
    pub new_hash: String,
    #[serde(flatten)]
    pub changes: ToolChanges,
}

impl From<ToolChange> for ToolChangeOut {
    fn from(change: ToolChange) -> Self {
        Self {
            changed_at: change.changed_at,
            old_hash: change.old_hash,
            new_hash: change.new_hash,
            changes: change.changes,
        }
    }
}

/// One remote: its latest result with the tools, the older results (at most 9) and the changes of its tool
/// list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemoteOut {
    pub latest: ProbeOut,
    pub history: Vec<ProbeOut>,
    pub changes: Vec<ToolChangeOut>,
}

impl From<RemoteProbes> for RemoteOut {
    fn from(remote: RemoteProbes) -> Self {
        Self {
            latest: remote.latest.into(),
            history: remote.history.into_iter().map(Into::into).collect(),
            changes: remote.changes.into_iter().map(Into::into).collect(),
        }
    }
}

/// What the prober found at the remotes of one server version; empty when none was probed yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionProbesOut {
    pub registry: String,
    pub name: String,
    pub version: String,
    pub remotes: Vec<RemoteOut>,
}

/// One page of the latest result of every remote.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeListOut {
    pub probes: Vec<ProbeOut>,
    pub metadata: ListMetadata,
}

/// The prober's findings at the remotes of one server version (`latest` for the latest version).
#[utoipa::path(
    get,
    path = "/extension/v0/registries/{registryName}/servers/{serverName}/versions/{version}/probe",
    tag = "probes",
    params(
        ("registryName" = String, Path, description = "Registry name"),
        ("serverName" = String, Path, description = "URL-encoded server name, e.g. io.github.user%2Fweather"),
        ("version" = String, Path, description = "An exact version, or `latest`"),
    ),
    responses(
        (status = 200, description = "Each remote's latest result, history and tool changes", body = VersionProbesOut),
        (status = 404, description = "Unknown registry, server or version", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_version_probes(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<VersionProbePath>,
) -> Result<Json<VersionProbesOut>, ApiError> {
    let registry = stored_registry(&state, &path.registry_name)?.name;
    let selector = VersionSelector::parse(&path.version);
    let scope = Scope::Registry(registry.clone());
    let stored = state.store.get_version(&scope, &path.server_name, &selector, true).await?;
    let stored = stored.ok_or_else(server_not_found)?;
    let remotes = state.store.probe_report(&registry, &stored.name, &stored.version).await?;
    Ok(Json(VersionProbesOut {
        registry: registry.to_string(),
        name: stored.name,
        version: stored.version,
        remotes: remotes.into_iter().map(Into::into).collect(),
    }))
}

/// `{registryName}`, `{serverName}` and `{version}` in a path.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionProbePath {
    pub registry_name: String,
    pub server_name: String,
    pub version: String,
}

/// The cursor of a page of probes: the hex of the last item's (registry, name, version, url).
fn encode_cursor(cursor: &ProbeCursor) -> String {
    hex(serde_json::to_string(cursor).unwrap_or_default().as_bytes())
}

fn decode_cursor(raw: &str) -> Result<ProbeCursor, ApiError> {
    unhex(raw).and_then(|bytes| serde_json::from_slice(&bytes).ok()).ok_or_else(|| {
        ApiError::BadRequest("Invalid cursor: use metadata.nextCursor of the previous page".into())
    })
}

/// The latest result of every remote, for operators: by registry, server, version and URL.
#[utoipa::path(
    get,
    path = "/extension/v0/probes",
    tag = "probes",
    params(ProbeParams),
    responses(
        (status = 200, description = "One page of the latest result of each remote", body = ProbeListOut),
        (status = 400, description = "An invalid cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid limit or outcome", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_probes(
    State(state): State<AppState>,
    params: ProbeParams,
) -> Result<Json<ProbeListOut>, ApiError> {
    let registry = params.registry.as_deref().map(|raw| stored_registry(&state, raw)).transpose()?;
    let filter = ProbeFilter {
        registry: registry.map(|registry| registry.name),
        outcome: params.outcome.as_deref().and_then(Outcome::parse),
    };
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    // One more than the page shows whether another follows.
    let mut probes = state.store.list_probes(&filter, after.as_ref(), limit + 1).await?;
    let more = probes.len() > limit as usize;
    probes.truncate(limit as usize);
    let next_cursor = probes.last().filter(|_| more).map(|last| {
        let url = last.result.url.clone().unwrap_or_default();
        encode_cursor(&(last.registry.to_string(), last.name.clone(), last.version.clone(), url))
    });
    let probes: Vec<ProbeOut> = probes.into_iter().map(Into::into).collect();
    Ok(Json(ProbeListOut { metadata: ListMetadata { next_cursor, count: probes.len() }, probes }))
}

/// Probe a registry's remotes now: a pass over the latest version of every server. A pass already queued or
/// running is not queued twice.
#[utoipa::path(
    post,
    path = "/extension/v0/registries/{name}/probe",
    tag = "probes",
    params(("name" = String, Path, description = "Registry name")),
    responses(
        (status = 202, description = "Queued, or already queued", body = JobOut),
        (status = 401, description = "Writes need authentication", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Probing needs the manageSources role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown registry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Probing is off for this registry", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn probe_registry(
    State(state): State<AppState>,
    access: WriteAccess,
    ApiPath(name): ApiPath<String>,
    headers: axum::http::HeaderMap,
) -> Result<(StatusCode, Json<JobOut>), ApiError> {
    let config = stored_registry(&state, &name)?;
    access.note_registry(&config.name);
    if !config.probe.enabled {
        return Err(ApiError::Conflict(format!(
            "probing is off for registry {name}: set registries[].probe.enabled and apply it with registry-admin migrate"
        )));
    }
    let mut job = ProbeRegistry::new(config.name.clone(), ProbeScope::All, Trigger::Manual);
    job.requested_by = access.principal.as_ref().and_then(|principal| principal.subject.clone());
    job.request_id =
        headers.get(&crate::names::REQUEST_ID).and_then(|id| id.to_str().ok()).map(str::to_owned);
    let enqueued = state.store.enqueue_probe(&job, None).await?;
    let already_queued = matches!(enqueued, Enqueued::AlreadyQueued { .. });
    Ok((StatusCode::ACCEPTED, Json(JobOut { job_id: enqueued.job_id().to_owned(), already_queued })))
}
