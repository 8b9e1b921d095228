//! The catalogue page, `/ui`: the latest version of each server, searched by name, title or description
//! with a GET form (so it works without JavaScript), a page at a time.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use registry_store::{Cursor, ListQuery, Scope, VersionSelector};
use serde::Deserialize;

use super::{Assets, asset_urls, cached_page, failed, html, render, request_id};
use crate::error::ApiError;
use crate::mcp::{ServerSummary, summary};
use crate::state::AppState;

/// Servers per page.
const PAGE: u32 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct CatalogueQuery {
    q: Option<String>,
    cursor: Option<String>,
}

/// One server as the list shows it.
pub struct Row {
    pub href: String,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub version: String,
    pub registry: String,
    pub deprecated: bool,
    pub remote: bool,
    pub package_types: Vec<String>,
}

impl From<ServerSummary> for Row {
    fn from(server: ServerSummary) -> Self {
        Self {
            href: super::server::href(&server.name, None),
            deprecated: server.status == "deprecated",
            remote: !server.remote_transports.is_empty(),
            name: server.name,
            title: server.title,
            description: server.description,
            version: server.version,
            registry: server.registry,
            package_types: server.package_types,
        }
    }
}

#[derive(Template)]
#[template(path = "catalogue.html")]
struct CataloguePage<'a> {
    assets: &'a Assets,
    query: Option<String>,
    summary: String,
    rows: Vec<Row>,
    next: Option<String>,
    paged: bool,
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CatalogueQuery>,
) -> Response {
    match render_page(&state, query).await {
        Ok(body) => html(StatusCode::OK, body),
        Err(error) => failed(&error, request_id(&headers)),
    }
}

async fn render_page(state: &AppState, query: CatalogueQuery) -> Result<bytes::Bytes, ApiError> {
    let search = query.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    let cursor = query.cursor.filter(|c| !c.is_empty());
    let decoded =
        cursor.as_deref().map(Cursor::decode).transpose().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let list = ListQuery {
        scope: Scope::Aggregated,
        cursor: decoded,
        limit: PAGE,
        search: search.clone(),
        version: Some(VersionSelector::Latest),
        updated_since: None,
        include_deleted: false,
    };
    let read = [
        "ui:catalogue".to_owned(),
        format!("q={}", search.as_deref().unwrap_or_default()),
        format!("cursor={}", cursor.as_deref().unwrap_or_default()),
    ];
    cached_page(state, &Scope::Aggregated, &read, || async {
        let found = state.store.list_servers(&list).await?;
        let rows: Vec<Row> = found.items.into_iter().map(|version| Row::from(summary(version))).collect();
        let next = found.next_cursor.map(|next| {
            let mut url = url::form_urlencoded::Serializer::new(String::new());
            if let Some(q) = &search {
                url.append_pair("q", q);
            }
            url.append_pair("cursor", &next.encode());
            format!("/ui?{}", url.finish())
        });
        let shown = match (rows.len(), &search) {
            (0, Some(q)) => format!("No server matches “{q}”."),
            (0, None) => "The catalogue is empty.".to_owned(),
            (1, _) => "1 server on this page.".to_owned(),
            (n, _) => format!("{n} servers on this page."),
        };
        render(&CataloguePage {
            assets: asset_urls(),
            query: search.clone(),
            summary: shown,
            rows,
            next,
            paged: cursor.is_some(),
        })
    })
    .await
}
