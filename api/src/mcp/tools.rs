//! The tools' arguments and answers, and the reads behind them: the same store queries as the REST reads,
//! so a tool is as fresh as `GET /v0.1/servers`.

use registry_core::install::{Client, InstallConfig, install_config};
use registry_core::model::{ServerDetail, Status};
use registry_store::{Cursor, ListQuery, Scope, StoredVersion, VersionSelector};
use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::extract::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::http_cache::{content_key, json_body};
use crate::page_cache::Encoding;
use crate::state::AppState;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// A case-insensitive substring of the name, title or description, as the REST API's `search`.
    pub query: Option<String>,
    /// Only this registry's servers; every registry when left out.
    pub registry: Option<String>,
    /// Servers per page, 1 to 100; 30 when left out.
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// One server, as a search lists it: its latest version.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerSummary {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub version: String,
    /// `active` or `deprecated`.
    pub status: String,
    pub registry: String,
    /// The `registryType` of each package (`npm`, `pypi`, `oci`, …).
    pub package_types: Vec<String>,
    /// The transport of each remote (`streamable-http`, `sse`).
    pub remote_transports: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchOut {
    pub servers: Vec<ServerSummary>,
    /// Pass it as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetServerArgs {
    /// The server's name, e.g. `io.github.user/weather`.
    pub name: String,
    /// A version; the latest when left out.
    pub version: Option<String>,
    /// Only this registry; the aggregated view (the first registry in precedence order) when left out.
    pub registry: Option<String>,
}

/// A server version: its server.json and the registry's metadata, as `GET …/versions/{version}` answers,
/// with what the prober last found at its remotes.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ServerOut {
    pub server: Value,
    #[serde(rename = "_meta")]
    pub meta: Value,
    /// One per remote probed; absent where the registry does not probe, or has not yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeSummary>,
}

/// What the prober last found at one remote.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSummary {
    /// Absent for a server without remotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `ok`, `requiresAuth`, `needsConfiguration`, `notProbed`, `unsupportedTransport`, `timeout`, `refused`,
    /// `httpError`, `tlsError`, `protocolError`, `tooLarge` or `blockedAddress`.
    pub outcome: String,
    /// The names of the tools an `ok` probe listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// The list stopped at the registry's `maxTools`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchToolsArgs {
    /// A case-insensitive substring of a tool's name, title or description.
    pub query: String,
    /// Remotes per answer, 1 to 100; 30 when left out.
    pub limit: Option<u32>,
}

/// A remote whose last probe listed matching tools.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ToolMatchOut {
    pub registry: String,
    pub name: String,
    pub version: String,
    pub url: String,
    pub tools: Vec<ToolOut>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ToolOut {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ToolsOut {
    pub matches: Vec<ToolMatchOut>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallArgs {
    /// The server's name.
    pub name: String,
    /// A version; the latest when left out.
    pub version: Option<String>,
    /// The client to configure.
    pub client: Client,
    /// Only this registry; the aggregated view when left out.
    pub registry: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListVersionsArgs {
    /// The server's name.
    pub name: String,
    /// Only this registry; the aggregated view when left out.
    pub registry: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionOut {
    pub version: String,
    pub status: String,
    pub published_at: String,
    pub is_latest: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct VersionsOut {
    pub name: String,
    /// Newest publish first; deleted versions are left out.
    pub versions: Vec<VersionOut>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryOut {
    pub name: String,
    /// `file`, `git`, `api`, `managed` or `kubernetes`.
    pub kind: String,
    pub server_count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    /// The sync phase: `idle`, `syncing`, `complete` or `failed`.
    pub phase: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RegistriesOut {
    pub registries: Vec<RegistryOut>,
}

/// A tool's answer: its structured content, and as text a one-line summary for people followed by the JSON
/// (which MCP asks for, for clients that read no structured content).
pub struct Answer<T>(pub T);

/// What a person reads of an answer.
pub trait Summary {
    fn summary(&self) -> String;
}

impl<T: Serialize + Summary> IntoCallToolResult for Answer<T> {
    fn into_call_tool_result(self) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        let value =
            serde_json::to_value(&self.0).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let mut result = CallToolResult::structured(value);
        result.content.insert(0, ContentBlock::text(self.0.summary()));
        Ok(result.into())
    }
}

impl Summary for SearchOut {
    fn summary(&self) -> String {
        if self.servers.is_empty() {
            return "no servers match".to_owned();
        }
        let shown: Vec<String> =
            self.servers.iter().take(10).map(|s| format!("{} {}", s.name, s.version)).collect();
        let more = if self.next_cursor.is_some() { "; more with nextCursor" } else { "" };
        let rest = self.servers.len().saturating_sub(shown.len());
        let rest = if rest > 0 { format!(" and {rest} more") } else { String::new() };
        format!("{} servers: {}{rest}{more}", self.servers.len(), shown.join(", "))
    }
}

impl Summary for ServerOut {
    fn summary(&self) -> String {
        let field = |name: &str| self.server.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        format!("{} {}: {}", field("name"), field("version"), field("description"))
    }
}

impl Summary for ToolsOut {
    fn summary(&self) -> String {
        if self.matches.is_empty() {
            return "no probed server offers such a tool".to_owned();
        }
        let shown: Vec<String> = self
            .matches
            .iter()
            .map(|m| {
                let tools: Vec<&str> = m.tools.iter().map(|t| t.name.as_str()).collect();
                format!("{} ({})", m.name, tools.join(", "))
            })
            .collect();
        format!("{} servers: {}", self.matches.len(), shown.join("; "))
    }
}

impl Summary for VersionsOut {
    fn summary(&self) -> String {
        let latest = self.versions.iter().find(|v| v.is_latest).map_or("none", |v| v.version.as_str());
        format!("{}: {} versions, the latest {latest}", self.name, self.versions.len())
    }
}

impl Summary for RegistriesOut {
    fn summary(&self) -> String {
        let shown: Vec<String> = self
            .registries
            .iter()
            .map(|r| format!("{} ({}, {} servers, {})", r.name, r.kind, r.server_count, r.phase))
            .collect();
        format!("{} registries: {}", self.registries.len(), shown.join(", "))
    }
}

impl Summary for InstallConfig {
    fn summary(&self) -> String {
        let fill: Vec<&str> = self.to_fill.iter().map(|f| f.name.as_str()).collect();
        let fill = if fill.is_empty() { String::new() } else { format!("; fill in {}", fill.join(", ")) };
        format!("{} for {}{fill}", self.format, self.location)
    }
}

/// Why a tool call has no answer: a tool error (`isError`) the agent can act on (an argument it should
/// change, naming the field, or an unknown server), or a JSON-RPC error when the registry itself cannot
/// answer. Argument errors are tool errors as MCP 2025-11-25 asks (so that a model can correct itself), as
/// rmcp reports the arguments that do not fit the input schema.
#[derive(Debug)]
pub enum ToolFailure {
    Internal(ErrorData),
    Tool(String),
}

impl IntoCallToolResult for ToolFailure {
    fn into_call_tool_result(self) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        match self {
            Self::Internal(error) => Err(error),
            Self::Tool(text) => Ok(CallToolResult::error(vec![ContentBlock::text(text)]).into()),
        }
    }
}

impl From<registry_store::StoreError> for ToolFailure {
    fn from(error: registry_store::StoreError) -> Self {
        tracing::warn!(error = %error, "an MCP tool could not read the store");
        Self::Internal(ErrorData::internal_error(
            "the registry cannot read its database right now; try again",
            None,
        ))
    }
}

fn invalid(field: &str, why: impl std::fmt::Display) -> ToolFailure {
    ToolFailure::Tool(format!("invalid argument {field}: {why}"))
}

/// The registries served; none before the stored set is first read.
fn registry_set(
    state: &AppState,
) -> Result<std::sync::Arc<[registry_runtime::config::RegistryConfig]>, ToolFailure> {
    state.registries.current().ok_or_else(|| {
        ToolFailure::Internal(ErrorData::internal_error("the registry set is not read yet; try again", None))
    })
}

/// The view a `registry` argument names: one stored registry, or all of them.
fn scope(state: &AppState, registry: Option<&str>) -> Result<Scope, ToolFailure> {
    let Some(raw) = registry else { return Ok(Scope::Aggregated) };
    let known = registry_set(state)?;
    known
        .iter()
        .find(|registry| registry.name.as_str() == raw)
        .map(|registry| Scope::Registry(registry.name.clone()))
        .ok_or_else(|| invalid("registry", format!("no registry is named {raw:?}")))
}

/// The parts of a server.json a summary shows.
#[derive(Deserialize)]
struct Shown {
    title: Option<String>,
    description: Option<String>,
    #[serde(default)]
    packages: Vec<Typed>,
    #[serde(default)]
    remotes: Vec<Typed>,
}

#[derive(Deserialize)]
struct Typed {
    #[serde(rename = "registryType", alias = "type")]
    kind: Option<String>,
}

/// What a list shows of a stored version; the web catalogue lists the same.
pub fn summary(version: StoredVersion) -> ServerSummary {
    // A stored body is a checked server.json; one that does not read shows its name and version only.
    let shown: Option<Shown> = serde_json::from_str(version.body.get()).ok();
    let kinds = |typed: &[Typed]| typed.iter().filter_map(|t| t.kind.clone()).collect::<Vec<_>>();
    ServerSummary {
        package_types: shown.as_ref().map(|s| kinds(&s.packages)).unwrap_or_default(),
        remote_transports: shown.as_ref().map(|s| kinds(&s.remotes)).unwrap_or_default(),
        title: shown.as_ref().and_then(|s| s.title.clone()),
        description: shown.and_then(|s| s.description),
        name: version.name,
        version: version.version,
        status: status(version.official.status),
        registry: version.registry.to_string(),
    }
}

fn status(status: Status) -> String {
    status.as_str().to_owned()
}

/// `render`'s answer to the read `read` of `scope`: from the page cache, under the same kind of key as the
/// REST reads (the content generations the view depends on), when the cache is on; else read now.
async fn cached<T, F>(
    state: &AppState,
    scope: &Scope,
    read: &[String],
    render: impl FnOnce() -> F,
) -> Result<T, ToolFailure>
where
    T: Serialize + serde::de::DeserializeOwned,
    F: Future<Output = Result<T, registry_store::StoreError>>,
{
    let (Some(pages), Some(key)) = (&state.pages, content_key(state, scope.registry(), read)) else {
        return Ok(render().await?);
    };
    let rendered = pages.get_or_render(key, Encoding::Identity, || async { json_body(&render().await?) });
    let (body, _) = rendered.await.map_err(|error| {
        tracing::warn!(error = %error, "an MCP tool could not read");
        ToolFailure::Internal(ErrorData::internal_error(
            "the registry cannot read its database right now; try again",
            None,
        ))
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| ToolFailure::Internal(ErrorData::internal_error(e.to_string(), None)))
}

/// A page of the latest versions (deleted ones left out) of `scope`, matching `search` when given.
fn latest(scope: Scope, search: Option<String>, limit: u32, cursor: Option<Cursor>) -> ListQuery {
    ListQuery {
        scope,
        cursor,
        limit,
        search,
        version: Some(VersionSelector::Latest),
        updated_since: None,
        include_deleted: false,
    }
}

pub async fn search(state: &AppState, args: SearchArgs) -> Result<SearchOut, ToolFailure> {
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit", format!("must be from 1 to {MAX_LIMIT}")));
    }
    let cursor = args.cursor.as_deref().map(Cursor::decode).transpose().map_err(|e| invalid("cursor", e))?;
    let query =
        latest(scope(state, args.registry.as_deref())?, args.query.filter(|q| !q.is_empty()), limit, cursor);
    let read = [
        "mcp:search_servers".to_owned(),
        format!("limit={limit}"),
        format!("cursor={}", args.cursor.unwrap_or_default()),
        format!("search={}", query.search.as_deref().unwrap_or_default()),
    ];
    cached(state, &query.scope, &read, || async {
        let page = state.store.list_servers(&query).await?;
        Ok(SearchOut {
            servers: page.items.into_iter().map(summary).collect(),
            next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
        })
    })
    .await
}

/// One version (`latest` names the latest) of `name` in `scope`, as the REST read answers it.
pub async fn version(
    state: &AppState,
    scope: &Scope,
    name: &str,
    version: &str,
) -> Result<Option<ServerOut>, ToolFailure> {
    let read = ["mcp:version".to_owned(), name.to_owned(), version.to_owned()];
    cached(state, scope, &read, || async {
        let found = state.store.get_version(scope, name, &VersionSelector::parse(version), false).await?;
        let Some(found) = found else { return Ok(None) };
        let probes = state.store.latest_probes(&found.registry, &found.name, &found.version).await?;
        let probes = probes
            .into_iter()
            .map(|probe| ProbeSummary {
                url: probe.result.url,
                outcome: probe.result.outcome.as_str().to_owned(),
                tools: probe
                    .result
                    .tools
                    .map(|tools| tools.names().into_iter().map(str::to_owned).collect())
                    .unwrap_or_default(),
                truncated: probe.result.truncated,
            })
            .collect();
        // A stored version serialises as the REST read writes it: an object of `server` and `_meta`.
        let mut response = serde_json::to_value(&found).unwrap_or_default();
        Ok(Some(ServerOut { server: response["server"].take(), meta: response["_meta"].take(), probes }))
    })
    .await
}

pub async fn get(state: &AppState, args: GetServerArgs) -> Result<ServerOut, ToolFailure> {
    let scope = scope(state, args.registry.as_deref())?;
    let asked = args.version.as_deref().unwrap_or("latest");
    match version(state, &scope, &args.name, asked).await? {
        Some(found) => Ok(found),
        None => {
            let asked = match &args.version {
                Some(version) => format!("{} version {version}", args.name),
                None => args.name.clone(),
            };
            Err(ToolFailure::Tool(not_found(state, &scope, &asked, &args.name).await?))
        }
    }
}

/// Remotes whose latest probe listed a tool matching `query`, across every registry. Cached under every
/// registry's generation: a change of a remote's latest outcome or tool list bumps its registry's.
pub async fn search_tools(state: &AppState, args: SearchToolsArgs) -> Result<ToolsOut, ToolFailure> {
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit", format!("must be from 1 to {MAX_LIMIT}")));
    }
    let query = args.query.trim().to_owned();
    if query.is_empty() {
        return Err(invalid("query", "must not be empty"));
    }
    let read = ["mcp:search_tools".to_owned(), format!("limit={limit}"), format!("query={query}")];
    cached(state, &Scope::Aggregated, &read, || async {
        let found = state.store.search_tools(&query, limit).await?;
        let text = |tool: &Value, field: &str| tool.get(field).and_then(Value::as_str).map(str::to_owned);
        let matches = found
            .into_iter()
            .map(|found| ToolMatchOut {
                registry: found.registry.to_string(),
                name: found.name,
                version: found.version,
                url: found.url,
                tools: found
                    .tools
                    .iter()
                    .map(|tool| ToolOut {
                        name: text(tool, "name").unwrap_or_default(),
                        description: text(tool, "description"),
                    })
                    .collect(),
            })
            .collect();
        Ok(ToolsOut { matches })
    })
    .await
}

pub async fn install(state: &AppState, args: InstallArgs) -> Result<InstallConfig, ToolFailure> {
    let scope = scope(state, args.registry.as_deref())?;
    let Some(found) = version(state, &scope, &args.name, args.version.as_deref().unwrap_or("latest")).await?
    else {
        return Err(ToolFailure::Tool(not_found(state, &scope, &args.name, &args.name).await?));
    };
    let server: ServerDetail = serde_json::from_value(found.server).map_err(|e| {
        ToolFailure::Tool(format!("{} is not a server.json this registry can read: {e}", args.name))
    })?;
    install_config(&server, args.client)
        .map_err(|why| ToolFailure::Tool(format!("no {:?} snippet for {}: {why}", args.client, args.name)))
}

pub async fn versions(state: &AppState, args: ListVersionsArgs) -> Result<VersionsOut, ToolFailure> {
    let scope = scope(state, args.registry.as_deref())?;
    let read = ["mcp:list_versions".to_owned(), args.name.clone()];
    let versions: Vec<VersionOut> = cached(state, &scope, &read, || async {
        let versions = state.store.list_versions(&scope, &args.name, false).await?;
        Ok(versions
            .into_iter()
            .map(|v| VersionOut {
                version: v.version,
                status: status(v.official.status),
                published_at: v.official.published_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                is_latest: v.official.is_latest,
            })
            .collect())
    })
    .await?;
    if versions.is_empty() {
        return Err(ToolFailure::Tool(not_found(state, &scope, &args.name, &args.name).await?));
    }
    Ok(VersionsOut { name: args.name, versions })
}

/// What a tool says of a name it does not know: what was asked, and servers whose names come close.
async fn not_found(state: &AppState, scope: &Scope, asked: &str, name: &str) -> Result<String, ToolFailure> {
    // The part after the namespace is what people misremember least.
    let stem = name.rsplit('/').next().unwrap_or(name);
    let query = latest(scope.clone(), Some(stem.to_owned()), 5, None);
    let close: Vec<String> =
        state.store.list_servers(&query).await?.items.into_iter().map(|v| v.name).collect();
    Ok(if close.is_empty() {
        format!(
            "no server {asked} in this registry; search_servers finds servers by words of their name or description"
        )
    } else {
        format!("no server {asked} in this registry; close by name: {}", close.join(", "))
    })
}

pub async fn registries(state: &AppState) -> Result<RegistriesOut, ToolFailure> {
    let known = registry_set(state)?;
    let mut registries = Vec::new();
    for registry in known.iter() {
        let sync = state.store.sync_status(&registry.name).await?;
        registries.push(RegistryOut {
            name: registry.name.to_string(),
            kind: registry.source.kind().to_owned(),
            server_count: sync.as_ref().map_or(0, |s| s.server_count),
            last_sync: sync
                .as_ref()
                .and_then(|s| s.last_success_at)
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            phase: sync.as_ref().map_or("idle", |s| s.phase.as_str()).to_owned(),
        });
    }
    Ok(RegistriesOut { registries })
}
