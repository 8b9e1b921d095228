//! The registry as an MCP server: a stateless Streamable HTTP endpoint at `/mcp` (rmcp), so that any replica
//! answers any request, with read-only tools over the same store queries as the REST reads. Authentication
//! is the REST API's: `require_token` runs before it, and `/mcp` is a read.

mod observe;
mod replay;
mod resources;
mod tools;

pub use observe::observe;
pub use replay::replay;
pub use tools::{ServerSummary, summary};

use std::sync::Arc;

use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::StreamableHttpServerConfig;
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};

use crate::auth::Principal;
pub use crate::names::MCP_PATH;
use crate::state::AppState;
use registry_core::install::InstallConfig;
use tools::{
    Answer, GetServerArgs, InstallArgs, ListVersionsArgs, RegistriesOut, SearchArgs, SearchOut,
    SearchToolsArgs, ServerOut, ToolFailure, ToolsOut, VersionsOut,
};

/// The largest JSON-RPC request body `/mcp` reads (413 above).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// One request's handler: the application state and the tools, built once and shared by every request.
#[derive(Clone)]
pub struct RegistryMcp {
    state: AppState,
    tool_router: Arc<ToolRouter<Self>>,
}

#[tool_router]
impl RegistryMcp {
    /// Search the catalogue: the latest version of each server whose name, title or description contains
    /// `query` (every server without one), a page at a time.
    #[tool(annotations(read_only_hint = true, open_world_hint = false), output_schema = schema_for_output::<SearchOut>())]
    async fn search_servers(
        &self,
        Parameters(args): Parameters<SearchArgs>,
    ) -> Result<Answer<SearchOut>, ToolFailure> {
        tools::search(&self.state, args).await.map(Answer)
    }

    /// One server version (the latest unless `version` is given): its server.json, with its packages,
    /// remotes and install details, the registry's metadata (status, publish and update times) and, where the
    /// registry probes its remotes, what each remote answered last (its outcome and the names of its tools).
    #[tool(annotations(read_only_hint = true, open_world_hint = false), output_schema = schema_for_output::<ServerOut>())]
    async fn get_server(
        &self,
        Parameters(args): Parameters<GetServerArgs>,
    ) -> Result<Answer<ServerOut>, ToolFailure> {
        tools::get(&self.state, args).await.map(Answer)
    }

    /// Every version of a server, newest publish first, with its status and publish time.
    #[tool(annotations(read_only_hint = true, open_world_hint = false), output_schema = schema_for_output::<VersionsOut>())]
    async fn list_versions(
        &self,
        Parameters(args): Parameters<ListVersionsArgs>,
    ) -> Result<Answer<VersionsOut>, ToolFailure> {
        tools::versions(&self.state, args).await.map(Answer)
    }

    /// The configuration that installs a server in a client (vscode, claude-desktop, claude-code, cursor or
    /// toolhive): a remote's URL and headers, or the command, arguments and environment of a package, with
    /// `{placeholders}` for the values the server.json cannot give (secrets), each listed in `toFill`.
    #[tool(annotations(read_only_hint = true, open_world_hint = false), output_schema = schema_for_output::<InstallConfig>())]
    async fn get_install_config(
        &self,
        Parameters(args): Parameters<InstallArgs>,
    ) -> Result<Answer<InstallConfig>, ToolFailure> {
        tools::install(&self.state, args).await.map(Answer)
    }

    /// Find servers by the tools they offer: the remotes whose last probe listed a tool whose name, title or
    /// description contains `query`, with those tools. Only registries that probe their remotes are searched.
    #[tool(annotations(read_only_hint = true, open_world_hint = false), output_schema = schema_for_output::<ToolsOut>())]
    async fn search_tools(
        &self,
        Parameters(args): Parameters<SearchToolsArgs>,
    ) -> Result<Answer<ToolsOut>, ToolFailure> {
        tools::search_tools(&self.state, args).await.map(Answer)
    }

    /// The registries this catalogue aggregates: each one's kind, server count, last successful sync and
    /// sync phase. Needs a token whenever the registry has authentication on, as the extension API does.
    #[tool(annotations(read_only_hint = true, open_world_hint = false), output_schema = schema_for_output::<RegistriesOut>())]
    async fn list_registries(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<Answer<RegistriesOut>, ToolFailure> {
        if self.state.authenticator.is_some() && parts.extensions.get::<Principal>().is_none() {
            return Err(ToolFailure::Tool(
                "list_registries needs a token: sources and sync state are not public (send Authorization: Bearer …)".into(),
            ));
        }
        tools::registries(&self.state).await.map(Answer)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for RegistryMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("mcp-registry", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "The MCP server catalogue of this organisation. search_servers finds servers by what they do, \
                 search_tools by the tools they offer; get_server gives one server's packages, remotes and \
                 settings.",
            )
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        resources::list(&self.state, request).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.state, &request.uri).await.map(Into::into)
    }
}

/// The `/mcp` service: stateless (no sessions, JSON answers), any `Host` unless `mcp.allowedHosts` lists
/// some.
pub fn service(state: AppState) -> StreamableHttpService<RegistryMcp, NeverSessionManager> {
    let hosts = state.config.mcp.allowed_hosts.clone();
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(MAX_REQUEST_BYTES);
    config = if hosts.is_empty() { config.disable_allowed_hosts() } else { config.with_allowed_hosts(hosts) };
    let tool_router = Arc::new(RegistryMcp::tool_router());
    let handler = RegistryMcp { state, tool_router };
    StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(NeverSessionManager::default()), config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_labels_name_every_tool() {
        let mut tools: Vec<String> =
            RegistryMcp::tool_router().list_all().into_iter().map(|t| t.name.to_string()).collect();
        tools.sort();
        let mut labels = observe::TOOLS.to_vec();
        labels.sort_unstable();
        assert_eq!(tools, labels);
    }
}
