//! Validate a server.json, `/ui/publish`: paste a document, and "Validate" shows every issue with its path,
//! from the same checks as `POST /v0.1/validate`, against the publish registry. A plain POST form, which
//! works without JavaScript; validating changes nothing, so it is a read.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use registry_core::publish::publish_target;
use registry_core::validation::{Issue, IssueKind};
use serde::Deserialize;

use super::{Assets, asset_urls, failed, html, render, request_id};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::registry_set;
use crate::state::AppState;

/// An issue as the page lists it.
pub struct IssueRow {
    /// The badge's class, and its text.
    pub class: &'static str,
    pub severity: &'static str,
    pub path: String,
    pub message: String,
}

impl From<Issue> for IssueRow {
    fn from(issue: Issue) -> Self {
        let (class, severity) =
            if issue.is_error() { ("failed", "error") } else { ("deprecated", "warning") };
        let path = if issue.path.is_empty() { "(the document)".to_owned() } else { issue.path };
        Self { class, severity, path, message: issue.message }
    }
}

#[derive(Template)]
#[template(path = "publish.html")]
struct PublishPage<'a> {
    assets: &'a Assets,
    registry: Option<String>,
    knows_the_data: bool,
    document: String,
    checked: bool,
    valid: bool,
    issues: Vec<IssueRow>,
}

#[derive(Deserialize)]
pub struct ValidateForm {
    document: String,
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Option<Extension<Principal>>,
) -> Response {
    respond(&state, &headers, principal.is_some(), None).await
}

pub async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Option<Extension<Principal>>,
    Form(form): Form<ValidateForm>,
) -> Response {
    respond(&state, &headers, principal.is_some(), Some(form.document)).await
}

async fn respond(
    state: &AppState,
    headers: &HeaderMap,
    signed_in: bool,
    document: Option<String>,
) -> Response {
    match render_page(state, signed_in, document).await {
        Ok(body) => html(StatusCode::OK, body),
        Err(error) => failed(&error, request_id(headers)),
    }
}

async fn render_page(
    state: &AppState,
    signed_in: bool,
    document: Option<String>,
) -> Result<bytes::Bytes, ApiError> {
    let registries = registry_set(state)?;
    let target = publish_target(&registries, state.config.publish_registry.as_ref()).ok();
    // As the API's validate route: the conflicts with stored versions only for a caller who may read them.
    let knows_the_data = signed_in || state.authenticator.is_none();
    let mut page = PublishPage {
        assets: asset_urls(),
        registry: target.map(|registry| registry.name.to_string()),
        knows_the_data,
        document: document.clone().unwrap_or_default(),
        checked: false,
        valid: false,
        issues: Vec::new(),
    };
    if let (Some(registry), Some(document)) = (target, document) {
        let issues = match serde_json::from_str(&document) {
            Ok(value) if knows_the_data => state.publisher().check(registry, &value).await?,
            Ok(value) => state.publisher().check_document(registry, &value).await?,
            Err(e) => vec![Issue::error(IssueKind::Json, "", format!("not valid JSON: {e}"))],
        };
        page.checked = true;
        page.valid = !issues.iter().any(Issue::is_error);
        page.issues = issues.into_iter().map(IssueRow::from).collect();
    }
    render(&page)
}
