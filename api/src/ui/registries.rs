//! The registries page, `/ui/registries`: what the extension API keeps behind a token even with
//! `publicReads`, and so does the page (the gate sees to it): each registry's kind, source (never a secret),
//! filter, schedule, sync state, probing and Kubernetes watcher; and "Sync now" for callers who may.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use registry_runtime::config::Source;
use registry_store::jobs::Enqueued;
use serde::Deserialize;
use serde_json::Value;

use super::visitor::Visitor;
use super::{Assets, Fragment, REGISTRIES_PATH, asset_urls, failed, render, request_id};
use crate::auth::WriteAccess;
use crate::auth::authz::Action;
use crate::error::ApiError;
use crate::extract::registry_set;
use crate::routes::registries::{queue_sync, registry_out};
use crate::state::AppState;

/// One registry as the page shows it.
pub struct RegistryRow {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub source: String,
    pub filter: Option<String>,
    pub schedule: Option<String>,
    pub phase: String,
    pub phase_class: &'static str,
    pub server_count: i32,
    pub last_success: String,
    pub next_sync: Option<String>,
    pub message: Option<String>,
    pub watcher: Option<String>,
    pub probe: Option<String>,
    /// Whether it syncs (a managed registry never does).
    pub syncs: bool,
}

#[derive(Template)]
#[template(path = "registries.html", blocks = ["list"])]
struct RegistriesPage<'a> {
    assets: &'a Assets,
    registries: Vec<RegistryRow>,
    /// Whether a sync is queued or running: the script then shows the list again every few seconds.
    busy: bool,
    /// Whether "Sync now" is offered, and the token its forms carry.
    may_sync: bool,
    csrf: &'a str,
    /// The sync just asked for, when the page follows one.
    queued: Option<Queued>,
}

/// What "Sync now" did.
#[derive(Debug, Default, Deserialize)]
pub struct Queued {
    queued: Option<String>,
    #[serde(default)]
    already: bool,
}

fn time(at: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    at.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Whether a JSON value says nothing: null, an empty list, or an object of such values.
fn says_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.values().all(says_nothing),
        _ => false,
    }
}

/// A JSON value as one line, or `None` when it says nothing.
fn compact(value: &Value) -> Option<String> {
    (!says_nothing(value)).then(|| value.to_string())
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: Visitor,
    Query(queued): Query<Queued>,
    Query(part): Query<Fragment>,
) -> Response {
    match render_page(&state, &visitor, queued, part.is("list")).await {
        Ok(body) => visitor.page(StatusCode::OK, body),
        Err(error) => failed(&error, request_id(&headers)),
    }
}

#[derive(Deserialize)]
pub struct SyncForm {
    #[serde(default)]
    csrf: String,
}

/// "Sync now": queues a sync as `POST /extension/v0/registries/{name}/sync` does, then shows the page again,
/// saying so.
pub async fn sync_now(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: Visitor,
    access: Result<WriteAccess, Response>,
    Path(name): Path<String>,
    Form(form): Form<SyncForm>,
) -> Response {
    let access = match visitor.write_form(&form.csrf, access, &headers).await {
        Ok(access) => access,
        Err(page) => return page,
    };
    match queue_sync(&state, &access, &name, &headers).await {
        Ok(enqueued) => {
            let already = matches!(enqueued, Enqueued::AlreadyQueued { .. });
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("queued", &name)
                .append_pair("already", if already { "true" } else { "false" })
                .finish();
            Redirect::to(&format!("{REGISTRIES_PATH}?{query}")).into_response()
        }
        Err(error) => failed(&error, request_id(&headers)),
    }
}

/// The page, or with `list` only its list of registries (what the script shows again while a sync runs).
async fn render_page(
    state: &AppState,
    visitor: &Visitor,
    queued: Queued,
    list: bool,
) -> Result<bytes::Bytes, ApiError> {
    let mut registries = Vec::new();
    for registry in registry_set(state)?.iter() {
        let status = state.store.sync_status(&registry.name).await?;
        let out = registry_out(registry, status);
        let sync = &out.sync_status;
        registries.push(RegistryRow {
            phase_class: match sync.phase.as_str() {
                "failed" => "failed",
                "complete" => "ok",
                _ => "",
            },
            schedule: out.sync_policy.as_ref().map(|policy| policy.interval.clone()),
            server_count: sync.server_count,
            last_success: time(sync.last_sync_time).unwrap_or_else(|| "never".to_owned()),
            next_sync: time(sync.next_sync_time),
            message: sync.message.clone(),
            phase: sync.phase.clone(),
            syncs: registry.source != Source::Managed,
            watcher: out.kubernetes.as_ref().and_then(|k| k.watcher.as_ref()).map(Value::to_string),
            probe: out.probe.as_ref().and_then(|probe| probe["interval"].as_str()).map(str::to_owned),
            source: compact(&out.source).unwrap_or_else(|| "written through the API".to_owned()),
            filter: compact(&out.filter),
            name: out.name,
            kind: out.kind,
            format: out.format,
        });
    }
    let page = RegistriesPage {
        assets: asset_urls(),
        busy: registries.iter().any(|registry| matches!(registry.phase.as_str(), "queued" | "syncing")),
        registries,
        may_sync: visitor.may(state, Action::SyncNow),
        csrf: visitor.csrf(),
        queued: queued.queued.is_some().then_some(queued),
    };
    if list { render(&page.as_list()) } else { render(&page) }
}
