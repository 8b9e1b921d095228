//! The catalogue page, `/ui`: the latest version of each server, searched by name, title or description
//! and narrowed by facets (registry, status, package type, remote or local, reachability), with their counts,
//! all as links and a GET form (so it works without JavaScript), a page at a time.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use registry_core::model::{RegistryName, Status};
use registry_store::{Cursor, FacetCount, ListQuery, Narrow, Reachability, Scope, VersionSelector};
use serde::Deserialize;

use super::visitor::Visitor;
use super::{Assets, Fragment, asset_urls, cached_page, failed, render, request_id};
use crate::error::ApiError;
use crate::mcp::{ServerSummary, summary};
use crate::state::AppState;

/// Servers per page.
const PAGE: u32 = 20;

/// The page's query: a search, the facets chosen, and the cursor of the page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogueQuery {
    q: Option<String>,
    registry: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    package_type: Option<String>,
    #[serde(rename = "where")]
    placement: Option<String>,
    reach: Option<String>,
    cursor: Option<String>,
}

impl CatalogueQuery {
    /// Empty values count as absent, and the search is trimmed.
    fn tidy(self) -> Self {
        let keep = |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Self {
            q: keep(self.q),
            registry: keep(self.registry),
            status: keep(self.status),
            package_type: keep(self.package_type),
            placement: keep(self.placement),
            reach: keep(self.reach),
            cursor: keep(self.cursor),
        }
    }

    fn pairs(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("q", self.q.as_deref()),
            ("registry", self.registry.as_deref()),
            ("status", self.status.as_deref()),
            ("type", self.package_type.as_deref()),
            ("where", self.placement.as_deref()),
            ("reach", self.reach.as_deref()),
            ("cursor", self.cursor.as_deref()),
        ]
    }

    /// This page's URL with `change` made (a facet chosen or cleared, another page), always from its first
    /// page unless the change names a cursor.
    fn url(&self, change: impl FnOnce(&mut Self)) -> String {
        let mut next = Self { cursor: None, ..self.clone() };
        change(&mut next);
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in next.pairs() {
            if let Some(value) = value {
                url.append_pair(key, value);
            }
        }
        let query = url.finish();
        if query.is_empty() { "/ui".to_owned() } else { format!("/ui?{query}") }
    }

    /// The list this query asks for, and the facets chosen; a facet value that names nothing known is a 400.
    fn list(&self, state: &AppState) -> Result<(ListQuery, Narrow), ApiError> {
        let unknown = |key: &str, raw: &str| ApiError::BadRequest(format!("No {key} is called {raw:?}."));
        let scope = match &self.registry {
            None => Scope::Aggregated,
            Some(raw) => {
                let known = super::super::extract::registry_set(state)?;
                let name = RegistryName::parse(raw).ok().filter(|name| known.iter().any(|r| &r.name == name));
                Scope::Registry(name.ok_or_else(|| unknown("registry", raw))?)
            }
        };
        let status = match self.status.as_deref() {
            None => None,
            Some("active") => Some(Status::Active),
            Some("deprecated") => Some(Status::Deprecated),
            Some(raw) => return Err(unknown("status", raw)),
        };
        let remote = match self.placement.as_deref() {
            None => None,
            Some("remote") => Some(true),
            Some("local") => Some(false),
            Some(raw) => return Err(unknown("placement", raw)),
        };
        let reachability = self
            .reach
            .as_deref()
            .map(|raw| Reachability::parse(raw).ok_or_else(|| unknown("reachability", raw)))
            .transpose()?;
        let cursor = self
            .cursor
            .as_deref()
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let list = ListQuery {
            cursor,
            limit: PAGE,
            search: self.q.clone(),
            version: Some(VersionSelector::Latest),
            ..ListQuery::new(scope)
        };
        Ok((list, Narrow { status, package_type: self.package_type.clone(), remote, reachability }))
    }
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
    pub probed_ok: bool,
    pub package_types: Vec<String>,
}

impl Row {
    /// A row of the list, linking to the server's page in the registry chosen, if one is.
    fn new(server: ServerSummary, probed_ok: bool, in_registry: Option<&str>) -> Self {
        Self {
            href: super::server::href(&server.name, None, in_registry),
            deprecated: server.status == "deprecated",
            remote: !server.remote_transports.is_empty(),
            probed_ok,
            name: server.name,
            title: server.title,
            description: server.description,
            version: server.version,
            registry: server.registry,
            package_types: server.package_types,
        }
    }
}

/// One value of a facet as a link that chooses it, or (chosen) clears it.
pub struct FacetLink {
    pub label: String,
    pub count: i64,
    pub href: String,
    pub chosen: bool,
}

pub struct FacetGroup {
    pub title: &'static str,
    pub links: Vec<FacetLink>,
}

#[derive(Template)]
#[template(path = "catalogue.html", blocks = ["listing"])]
struct CataloguePage<'a> {
    assets: &'a Assets,
    query: CatalogueQuery,
    /// The chosen facets, kept by the search form.
    hidden: Vec<(&'static str, String)>,
    summary: String,
    facets: Vec<FacetGroup>,
    clear: Option<String>,
    rows: Vec<Row>,
    next: Option<String>,
    first: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: Visitor,
    Query(query): Query<CatalogueQuery>,
    Query(part): Query<Fragment>,
) -> Response {
    match render_page(&state, query.tidy(), part.is("listing")).await {
        Ok(body) => visitor.page(StatusCode::OK, body),
        Err(error) => failed(&error, request_id(&headers)),
    }
}

/// A facet's links: each value with its count; the chosen one links to the page without it.
fn group(
    title: &'static str,
    counts: Vec<FacetCount>,
    chosen: Option<&str>,
    label: impl Fn(&str) -> String,
    with: impl Fn(&mut CatalogueQuery, Option<String>),
    query: &CatalogueQuery,
) -> FacetGroup {
    let links = counts
        .into_iter()
        .map(|facet| {
            let is_chosen = chosen == Some(facet.value.as_str());
            let value = (!is_chosen).then(|| facet.value.clone());
            FacetLink {
                label: label(&facet.value),
                count: facet.count,
                href: query.url(|q| with(q, value)),
                chosen: is_chosen,
            }
        })
        .collect();
    FacetGroup { title, links }
}

fn facet_groups(query: &CatalogueQuery, facets: registry_store::Facets) -> Vec<FacetGroup> {
    let same = |value: &str| value.to_owned();
    let reach = |value: &str| {
        match value {
            "ok" => "answers (ok)",
            "requiresAuth" => "needs sign-in",
            "unreachable" => "unreachable",
            _ => "not probed",
        }
        .to_owned()
    };
    vec![
        group("Registry", facets.registries, query.registry.as_deref(), same, |q, v| q.registry = v, query),
        group("Status", facets.statuses, query.status.as_deref(), same, |q, v| q.status = v, query),
        group(
            "Package type",
            facets.package_types,
            query.package_type.as_deref(),
            same,
            |q, v| q.package_type = v,
            query,
        ),
        group(
            "Remote or local",
            facets.placement,
            query.placement.as_deref(),
            same,
            |q, v| q.placement = v,
            query,
        ),
        group("Reachability", facets.reachability, query.reach.as_deref(), reach, |q, v| q.reach = v, query),
    ]
    .into_iter()
    .filter(|group| !group.links.is_empty())
    .collect()
}

/// The page, or with `listing` only its facets and results (what the script swaps in as a search is typed).
async fn render_page(
    state: &AppState,
    query: CatalogueQuery,
    listing: bool,
) -> Result<bytes::Bytes, ApiError> {
    let (list, narrow) = query.list(state)?;
    let mut read = vec![if listing { "ui:catalogue#listing" } else { "ui:catalogue" }.to_owned()];
    read.extend(query.pairs().iter().map(|(key, value)| format!("{key}={}", value.unwrap_or_default())));
    cached_page(state, &Scope::Aggregated, &read, || async {
        let (found, facets) = state.store.catalogue(&list, &narrow).await?;
        let rows: Vec<Row> = found
            .items
            .into_iter()
            .map(|version| {
                let ok = facets.probed_ok.contains(&(version.registry.to_string(), version.name.clone()));
                Row::new(summary(version), ok, query.registry.as_deref())
            })
            .collect();
        let next = found.next_cursor.map(|next| query.url(|q| q.cursor = Some(next.encode())));
        let shown = match (rows.len(), &query.q) {
            (0, Some(q)) => format!("No server matches “{q}”."),
            (0, None) => "No server here.".to_owned(),
            (1, _) => "1 server on this page.".to_owned(),
            (n, _) => format!("{n} servers on this page."),
        };
        let narrowed =
            query.pairs().iter().any(|(key, value)| !matches!(*key, "q" | "cursor") && value.is_some());
        let hidden = query
            .pairs()
            .into_iter()
            .filter(|(key, _)| !matches!(*key, "q" | "cursor"))
            .filter_map(|(key, value)| Some((key, value?.to_owned())))
            .collect();
        let page = CataloguePage {
            assets: asset_urls(),
            hidden,
            summary: shown,
            facets: facet_groups(&query, facets),
            clear: narrowed
                .then(|| query.url(|q| *q = CatalogueQuery { q: q.q.take(), ..CatalogueQuery::default() })),
            first: query.cursor.is_some().then(|| query.url(|_| {})),
            rows,
            next,
            query: query.clone(),
        };
        if listing { render(&page.as_listing()) } else { render(&page) }
    })
    .await
}
