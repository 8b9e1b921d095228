//! Validate and publish a server.json, `/ui/publish`: paste a document, and "Validate" shows every issue with
//! its path, from the same checks as `POST /v0.1/validate`, against the publish registry; validating changes
//! nothing, so it is a read. "Publish", offered to callers with a publishing right, publishes as
//! `POST /v0.1/publish` does and leads to the new version's page. Plain POST forms, which work without
//! JavaScript.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use registry_core::publish::publish_target;
use registry_core::validation::{Issue, IssueKind};
use registry_store::Inserted;
use serde::Deserialize;

use super::visitor::Visitor;
use super::{Assets, asset_urls, failed, render, request_id};
use crate::auth::authz::Action;
use crate::auth::{Principal, WriteAccess};
use crate::error::ApiError;
use crate::extract::{WriteTarget, registry_set};
use crate::routes::publish::publish as publish_document;
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
    /// Whether "Publish" is offered, and the token the form carries for it.
    may_publish: bool,
    csrf: &'a str,
}

#[derive(Deserialize)]
pub struct DocumentForm {
    document: String,
    #[serde(default)]
    csrf: String,
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: Visitor,
    principal: Option<Extension<Principal>>,
) -> Response {
    respond(&state, &headers, &visitor, principal.is_some(), None).await
}

pub async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: Visitor,
    principal: Option<Extension<Principal>>,
    Form(form): Form<DocumentForm>,
) -> Response {
    respond(&state, &headers, &visitor, principal.is_some(), Some(form.document)).await
}

/// "Publish": a document with issues shows them (422) and stores nothing; a valid one is published as
/// `POST /v0.1/publish` publishes it, and the browser goes on to its page.
pub async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: Visitor,
    access: Result<WriteAccess, Response>,
    target: Result<WriteTarget, ApiError>,
    Form(form): Form<DocumentForm>,
) -> Response {
    let access = match visitor.write_form(&form.csrf, access, &headers).await {
        Ok(access) => access,
        Err(page) => return page,
    };
    let published = async {
        let WriteTarget(registry) = target?;
        let checked = render_page(&state, &visitor, true, Some(form.document.clone())).await?;
        let Ok(document) = serde_json::from_str(&form.document) else { return Ok(Err(checked)) };
        if checked.1 {
            let (Inserted { record, .. }, _) = publish_document(&state, &access, &registry, document).await?;
            Ok(Ok(super::server::href(&record.name, Some(&record.version), Some(registry.name.as_str()))))
        } else {
            Ok(Err(checked))
        }
    };
    match published.await {
        Ok(Ok(page)) => Redirect::to(&page).into_response(),
        Ok(Err((body, _))) => visitor.page(StatusCode::UNPROCESSABLE_ENTITY, body),
        Err(error) => failed(&error, request_id(&headers)),
    }
}

async fn respond(
    state: &AppState,
    headers: &HeaderMap,
    visitor: &Visitor,
    signed_in: bool,
    document: Option<String>,
) -> Response {
    match render_page(state, visitor, signed_in, document).await {
        Ok((body, _)) => visitor.page(StatusCode::OK, body),
        Err(error) => failed(&error, request_id(headers)),
    }
}

/// The page, and whether the document it checked is valid.
async fn render_page(
    state: &AppState,
    visitor: &Visitor,
    signed_in: bool,
    document: Option<String>,
) -> Result<(bytes::Bytes, bool), ApiError> {
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
        may_publish: visitor.may(state, Action::Publish),
        csrf: visitor.csrf(),
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
    Ok((render(&page)?, page.valid))
}
