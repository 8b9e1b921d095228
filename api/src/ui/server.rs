//! A server's page, `/ui/servers/{namespace}/{name}` (its latest version) and `…/versions/{version}`: what it
//! is, its versions, packages, remotes and settings, what the prober found, and the snippets that install it
//! in each client, from the same function as the MCP tool `get_install_config`. A server name's one `/` is a
//! path separator here, never `%2F`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use registry_core::install::{Client, install_config};
use registry_core::model::ServerDetail;
use registry_store::{Scope, StoredVersion, VersionSelector};
use serde_json::Value;

use super::visitor::Visitor;
use super::{Assets, asset_urls, cached_page, failed, render, request_id};
use crate::error::ApiError;
use crate::extract::stored_registry;
use crate::state::AppState;

/// What a path segment keeps as it is: the unreserved characters of RFC 3986.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The page of `name` (at `version`, or its latest), in one registry's view or the aggregated one: the
/// name's `/` stays a path separator.
pub fn href(name: &str, version: Option<&str>, registry: Option<&str>) -> String {
    let encode = |part: &str| percent_encoding::utf8_percent_encode(part, SEGMENT).to_string();
    let path: Vec<String> = name.splitn(2, '/').map(encode).collect();
    let mut url = format!("/ui/servers/{}", path.join("/"));
    if let Some(version) = version {
        url.push_str(&format!("/versions/{}", encode(version)));
    }
    if let Some(registry) = registry {
        url.push_str(&format!("?registry={}", encode(registry)));
    }
    url
}

/// `?registry=`: the page of the server as one registry holds it, where several hold its name.
#[derive(Debug, Default, serde::Deserialize)]
pub struct InRegistry {
    registry: Option<String>,
}

pub struct Link {
    pub label: &'static str,
    pub text: String,
    /// Only an http or https URL is a link; anything else (`javascript:`, `data:`) is shown as text.
    pub href: Option<String>,
}

fn link(label: &'static str, raw: &str) -> Link {
    let safe = url::Url::parse(raw).ok().filter(|url| matches!(url.scheme(), "http" | "https"));
    Link { label, text: raw.to_owned(), href: safe.map(|url| url.to_string()) }
}

pub struct VersionRow {
    pub version: String,
    pub status: String,
    pub published: String,
    pub href: String,
    pub current: bool,
}

pub struct RemoteRow {
    pub transport: String,
    pub url: String,
}

pub struct PackageRow {
    pub registry_type: String,
    pub identifier: String,
    pub version: String,
    pub transport: String,
}

pub struct Setting {
    pub name: String,
    pub kind: &'static str,
    pub required: bool,
    pub secret: bool,
    pub description: String,
}

pub struct Snippet {
    pub id: String,
    pub client: &'static str,
    pub location: &'static str,
    pub text: String,
    pub rows: usize,
    pub to_fill: Vec<String>,
}

pub struct ToolRow {
    pub name: String,
    pub description: Option<String>,
}

pub struct ChangeRow {
    pub at: String,
    pub text: String,
}

pub struct ProbeRow {
    pub url: Option<String>,
    pub outcome: &'static str,
    pub probed_at: String,
    pub detail: Option<String>,
    pub tools: Vec<ToolRow>,
    pub changes: Vec<ChangeRow>,
}

#[derive(Template)]
#[template(path = "server.html")]
struct ServerPage<'a> {
    assets: &'a Assets,
    heading: String,
    name: String,
    title: Option<String>,
    description: String,
    version: String,
    is_latest: bool,
    status: String,
    status_message: Option<String>,
    registry: String,
    published: String,
    updated: String,
    links: Vec<Link>,
    remotes: Vec<RemoteRow>,
    packages: Vec<PackageRow>,
    settings: Vec<Setting>,
    probes: Vec<ProbeRow>,
    snippets: Vec<Snippet>,
    versions: Vec<VersionRow>,
}

pub async fn latest(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: Visitor,
    Path((namespace, name)): Path<(String, String)>,
    Query(view): Query<InRegistry>,
) -> Response {
    respond(&state, &headers, &visitor, format!("{namespace}/{name}"), "latest".to_owned(), view).await
}

pub async fn version(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: Visitor,
    Path((namespace, name, version)): Path<(String, String, String)>,
    Query(view): Query<InRegistry>,
) -> Response {
    respond(&state, &headers, &visitor, format!("{namespace}/{name}"), version, view).await
}

async fn respond(
    state: &AppState,
    headers: &HeaderMap,
    visitor: &Visitor,
    name: String,
    version: String,
    view: InRegistry,
) -> Response {
    let page = async {
        let scope = match view.registry.as_deref().filter(|raw| !raw.is_empty()) {
            Some(raw) => Scope::Registry(stored_registry(state, raw)?.name),
            None => Scope::Aggregated,
        };
        let read = ["ui:server".to_owned(), name.clone(), version.clone()];
        cached_page(state, &scope, &read, || render_page(state, &scope, &name, &version)).await
    };
    match page.await {
        Ok(body) => visitor.page(StatusCode::OK, body),
        Err(error) => failed(&error, request_id(headers)),
    }
}

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn render_page(state: &AppState, scope: &Scope, name: &str, version: &str) -> Result<Bytes, ApiError> {
    let found = state.store.get_version(scope, name, &VersionSelector::parse(version), false).await?;
    let found = found.ok_or_else(|| {
        ApiError::NotFound(format!("No server {name} version {version} in this catalogue."))
    })?;
    let versions = state.store.list_versions(&Scope::Registry(found.registry.clone()), name, false).await?;
    let probes = state.store.probe_report(&found.registry, &found.name, &found.version).await?;
    let body: Value = serde_json::from_str(found.body.get()).unwrap_or_default();
    let detail: Option<ServerDetail> = serde_json::from_value(body.clone()).ok();
    render(&page(found, &body, detail.as_ref(), versions, probes, scope.registry()))
}

fn page(
    found: StoredVersion,
    body: &Value,
    detail: Option<&ServerDetail>,
    versions: Vec<StoredVersion>,
    probes: Vec<registry_store::probes::RemoteProbes>,
    in_registry: Option<&str>,
) -> ServerPage<'static> {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let title = text("title");
    let mut links = Vec::new();
    if let Some(url) = body.pointer("/repository/url").and_then(Value::as_str).filter(|u| !u.is_empty()) {
        links.push(link("Repository", url));
    }
    if let Some(url) = text("websiteUrl") {
        links.push(link("Website", &url));
    }
    let list = |key: &str| body.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let remotes = list("remotes")
        .iter()
        .map(|remote| RemoteRow {
            transport: remote["type"].as_str().unwrap_or_default().to_owned(),
            url: remote["url"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    let packages: Vec<Value> = list("packages");
    let package_rows = packages
        .iter()
        .map(|package| PackageRow {
            registry_type: package["registryType"].as_str().unwrap_or_default().to_owned(),
            identifier: package["identifier"].as_str().unwrap_or_default().to_owned(),
            version: package["version"].as_str().unwrap_or("-").to_owned(),
            transport: package
                .pointer("/transport/type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
        .collect();
    let current = found.version.clone();
    ServerPage {
        assets: asset_urls(),
        heading: title.clone().unwrap_or_else(|| found.name.clone()),
        description: text("description").unwrap_or_default(),
        settings: settings(&packages, &list("remotes")),
        snippets: detail.map(snippets).unwrap_or_default(),
        probes: probes.into_iter().map(probe_row).collect(),
        versions: versions
            .into_iter()
            .map(|v| VersionRow {
                href: href(&v.name, Some(&v.version), in_registry),
                current: v.version == current,
                status: v.official.status.as_str().to_owned(),
                published: time(v.official.published_at),
                version: v.version,
            })
            .collect(),
        links,
        remotes,
        packages: package_rows,
        title,
        is_latest: found.official.is_latest,
        status: found.official.status.as_str().to_owned(),
        status_message: found.official.status_message.clone(),
        registry: found.registry.to_string(),
        published: time(found.official.published_at),
        updated: time(found.official.updated_at),
        name: found.name,
        version: found.version,
    }
}

/// The environment variables, arguments and headers a server takes, with which are required and secret.
fn settings(packages: &[Value], remotes: &[Value]) -> Vec<Setting> {
    let mut settings = Vec::new();
    let mut add = |kind: &'static str, items: Option<&Value>| {
        for item in items.and_then(Value::as_array).into_iter().flatten() {
            let name = item["name"].as_str().or_else(|| item["valueHint"].as_str()).unwrap_or("(unnamed)");
            settings.push(Setting {
                name: name.to_owned(),
                kind,
                required: item["isRequired"].as_bool().unwrap_or(false),
                secret: item["isSecret"].as_bool().unwrap_or(false),
                description: item["description"].as_str().unwrap_or_default().to_owned(),
            });
        }
    };
    for package in packages {
        add("environment", package.get("environmentVariables"));
        add("argument", package.get("packageArguments"));
        add("runtime argument", package.get("runtimeArguments"));
    }
    for remote in remotes {
        add("header", remote.get("headers"));
    }
    settings
}

fn snippets(server: &ServerDetail) -> Vec<Snippet> {
    Client::ALL
        .into_iter()
        .filter_map(|client| install_config(server, client).ok())
        .map(|config| {
            let (id, label) = client_label(config.client);
            Snippet {
                id: format!("install-{id}"),
                client: label,
                location: config.location,
                rows: config.snippet.lines().count().clamp(2, 16),
                text: config.snippet,
                to_fill: config.to_fill.into_iter().map(|fill| fill.name).collect(),
            }
        })
        .collect()
}

fn client_label(client: Client) -> (&'static str, &'static str) {
    match client {
        Client::Vscode => ("vscode", "VS Code"),
        Client::ClaudeDesktop => ("claude-desktop", "Claude Desktop"),
        Client::ClaudeCode => ("claude-code", "Claude Code"),
        Client::Cursor => ("cursor", "Cursor"),
        Client::Toolhive => ("toolhive", "ToolHive"),
    }
}

fn probe_row(remote: registry_store::probes::RemoteProbes) -> ProbeRow {
    let latest = remote.latest.result;
    let tools = latest
        .tools
        .map(|tools| {
            tools
                .0
                .iter()
                .map(|tool| ToolRow {
                    name: tool["name"].as_str().unwrap_or_default().to_owned(),
                    description: tool["description"].as_str().map(str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default();
    let changes = remote
        .changes
        .into_iter()
        .map(|change| {
            let part = |verb: &str, names: &[String]| {
                (!names.is_empty()).then(|| format!("{verb} {}", names.join(", ")))
            };
            let parts: Vec<String> = [
                part("added", &change.changes.added),
                part("removed", &change.changes.removed),
                part("changed", &change.changes.changed),
            ]
            .into_iter()
            .flatten()
            .collect();
            ChangeRow { at: time(change.changed_at), text: parts.join("; ") }
        })
        .collect();
    ProbeRow {
        url: latest.url,
        outcome: latest.outcome.as_str(),
        probed_at: time(latest.probed_at),
        detail: latest.detail,
        tools,
        changes,
    }
}
