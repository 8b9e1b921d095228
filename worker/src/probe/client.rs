//! One probe: connects to one remote MCP server as an agent would (rmcp, Streamable HTTP), and
//! reports whether it answers and which tools it offers, or which way it failed ([`Outcome`]). Every call
//! goes through `registry_runtime::outbound`'s guarded client: no proxy, no redirect followed, no credentials,
//! and no private address unless `allowPrivateIP`; the whole probe is bounded by one timeout.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use registry_core::model::ServerDetail;
use registry_core::model::server_json::Transport;
pub use registry_core::probe::Outcome;
use registry_core::probe::{ProbeResult, ToolList};
use registry_runtime::outbound::{self, CallError, HostTable, check_literal};
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, PaginatedRequestParams, ProtocolVersion,
    ServerCapabilities, Tool,
};
use rmcp::service::ServiceError;
use rmcp::service::{ClientInitializeError, ClientLifecycleMode, ClientServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{StreamableHttpClientTransportConfig, StreamableHttpError};
use serde::Serialize;

/// The bounds of one probe.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The whole probe.
    pub timeout: Duration,
    /// One HTTP exchange.
    pub request_timeout: Duration,
    pub max_tools: usize,
    pub max_response_bytes: usize,
    pub allow_private_ip: bool,
}

/// What a probe found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// The server's `serverInfo`: name, version, title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_info: Option<Implementation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<ServerCapabilities>,
    /// The `resource_metadata` URL of a 401's challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_metadata: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub tools: Vec<Tool>,
    pub truncated: bool,
    /// Prompts and resources counted, where the server declared them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<u32>,
    #[serde(skip)]
    pub duration: Duration,
}

impl Report {
    fn new(outcome: Outcome, detail: Option<String>) -> Self {
        Self {
            outcome,
            http_status: None,
            protocol_version: None,
            server_info: None,
            capabilities: None,
            resource_metadata: None,
            detail,
            tools: Vec::new(),
            truncated: false,
            prompts: None,
            resources: None,
            duration: Duration::ZERO,
        }
    }

    /// The report as stored: of a probe of `url` (none for a server without remotes) that began at
    /// `probed_at`.
    pub fn into_result(self, url: Option<String>, probed_at: DateTime<Utc>) -> ProbeResult {
        let tools = (self.outcome == Outcome::Ok).then(|| ToolList::keep(self.tools.iter().map(json)));
        ProbeResult {
            url,
            probed_at,
            duration_ms: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            outcome: self.outcome,
            http_status: self.http_status,
            protocol_version: self.protocol_version,
            server_info: self.server_info.as_ref().map(json),
            capabilities: self.capabilities.as_ref().map(json),
            resource_metadata: self.resource_metadata,
            detail: self.detail,
            tools,
            truncated: self.truncated,
            prompts: self.prompts,
            resources: self.resources,
        }
    }

    /// A probe that ended as `outcome` (or a target not contacted), and why.
    pub fn failed(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self::new(outcome, Some(detail.into()))
    }

    fn http_error(status: u16, detail: String) -> Self {
        Self { http_status: Some(status), ..Self::failed(Outcome::HttpError, detail) }
    }
}

/// A value of rmcp's model as JSON; its types always serialise.
fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// What probing one server version means: a remote to contact, or why there is none to.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A Streamable HTTP remote at this URL (its variables' defaults filled in).
    Probe { url: String },
    /// Not contacted: the remote's URL when there is one, the outcome recorded, and why.
    Skip { url: Option<String>, outcome: Outcome, detail: String },
}

impl Target {
    /// The remote's URL, where it has one.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Probe { url } => Some(url),
            Self::Skip { url, .. } => url.as_deref(),
        }
    }
}

/// The targets of `server`: one per remote, or one `notProbed` when it has none.
pub fn targets(server: &ServerDetail) -> Vec<Target> {
    let remotes = server.remotes.as_deref().unwrap_or_default();
    if remotes.is_empty() {
        let detail = "no remotes: packages are never started".to_owned();
        return vec![Target::Skip { url: None, outcome: Outcome::NotProbed, detail }];
    }
    remotes.iter().map(target).collect()
}

fn target(remote: &Transport) -> Target {
    let skip = |outcome, detail: String| Target::Skip { url: remote.url.clone(), outcome, detail };
    let Some(url) = &remote.url else {
        return skip(Outcome::NeedsConfiguration, "the remote has no url".to_owned());
    };
    if remote.kind != "streamable-http" {
        return skip(Outcome::UnsupportedTransport, format!("the prober does not speak {}", remote.kind));
    }
    let mut filled = url.clone();
    for (name, variable) in remote.variables.iter().flatten() {
        if let Some(value) = variable.value.as_ref().or(variable.default.as_ref()) {
            filled = filled.replace(&format!("{{{name}}}"), value);
        }
    }
    if let Some(start) = filled.find('{') {
        let name = filled[start..].split('}').next().unwrap_or_default();
        return skip(Outcome::NeedsConfiguration, format!("the URL needs a value for {name}}}"));
    }
    let required = remote.headers.iter().flatten().find(|header| header.input.is_required == Some(true));
    if let Some(header) = required {
        // The prober sends no header of a server's, credentials least of all.
        return skip(Outcome::NeedsConfiguration, format!("the header {} is required", header.name));
    }
    Target::Probe { url: filled }
}

/// The HTTP client of probes within `limits`, resolving names through `hosts` first: the guarded outbound
/// client, built once for many probes, which share its connections.
pub fn http_client(limits: &Limits, hosts: HostTable) -> Result<reqwest::Client, String> {
    outbound::client(None, limits.allow_private_ip, limits.request_timeout, hosts)
}

/// Probes the MCP server at `url` within `limits`, through `http` (see [`http_client`]).
pub async fn probe(url: &str, limits: &Limits, http: &reqwest::Client) -> Report {
    let started = Instant::now();
    let mut report = match tokio::time::timeout(limits.timeout, list_tools(url, limits, http.clone())).await {
        Ok(Ok(report)) => report,
        // A stream cut off at `requestTimeout` reaches rmcp as a closed connection, the timeout lost on the
        // way: a probe that ran that long and ended so timed out.
        Ok(Err(failed))
            if failed.outcome == Outcome::ProtocolError
                && failed.detail.as_deref().is_some_and(|detail| detail.contains("connection closed"))
                && started.elapsed() >= limits.request_timeout =>
        {
            let detail = failed.detail.unwrap_or_default();
            Report::failed(
                Outcome::Timeout,
                format!("no whole answer within {:?}: {detail}", limits.request_timeout),
            )
        }
        Ok(Err(failed)) => failed,
        Err(_) => Report::failed(Outcome::Timeout, format!("no answer within {:?}", limits.timeout)),
    };
    report.duration = started.elapsed();
    report
}

async fn list_tools(url: &str, limits: &Limits, http: reqwest::Client) -> Result<Report, Report> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Report::failed(Outcome::ProtocolError, format!("{url}: {e}")))?;
    check_literal(&parsed, limits.allow_private_ip)
        .map_err(|e| Report::failed(Outcome::BlockedAddress, e.to_string()))?;
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(url)
            .max_json_response_size(limits.max_response_bytes)
            .max_sse_event_size(limits.max_response_bytes)
            .max_error_response_size(4096)
            .reinit_on_expired_session(false)
            .max_concurrent_requests(1),
    );
    let me = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("mcp-registry-probe", env!("CARGO_PKG_VERSION")),
    );
    let lifecycle = ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_11_25),
    };
    let client = me.serve_with_lifecycle(transport, lifecycle).await.map_err(|e| failed_start(&e))?;
    let server = client.peer_info();
    let mut report = Report::new(Outcome::Ok, None);
    report.protocol_version = server.as_ref().map(|s| s.protocol_version.to_string());
    report.server_info = server.as_ref().and_then(|s| s.server_info.clone());
    let capabilities = server.as_ref().map(|s| s.capabilities.clone()).unwrap_or_default();
    let listed = async {
        let max = limits.max_tools;
        let (tools, truncated) =
            pages(max, |params| client.list_tools(params), |p| (p.tools, p.next_cursor)).await?;
        report.tools = tools;
        report.truncated = truncated;
        // Counted where declared, and only when listed whole: a failure to list them loses no tool found.
        if capabilities.prompts.is_some()
            && let Ok((prompts, false)) =
                pages(max, |params| client.list_prompts(params), |p| (p.prompts, p.next_cursor)).await
        {
            report.prompts = Some(count(&prompts));
        }
        if capabilities.resources.is_some()
            && let Ok((resources, false)) =
                pages(max, |params| client.list_resources(params), |p| (p.resources, p.next_cursor)).await
        {
            report.resources = Some(count(&resources));
        }
        Ok::<(), Report>(())
    }
    .await;
    report.capabilities = Some(capabilities);
    // A legacy server with sessions gets its DELETE; a failure to close changes nothing found.
    let _ = client.cancel().await;
    listed.map(|()| report)
}

fn count<T>(items: &[T]) -> u32 {
    u32::try_from(items.len()).unwrap_or(u32::MAX)
}

/// Lists pages with `list` until the last, or until `max` items (then `true`: truncated). A cursor seen twice
/// is a protocol error, so a server cannot keep a probe paging forever.
async fn pages<P, T, F>(
    max: usize,
    list: impl Fn(Option<PaginatedRequestParams>) -> F,
    split: impl Fn(P) -> (Vec<T>, Option<String>),
) -> Result<(Vec<T>, bool), Report>
where
    F: Future<Output = Result<P, ServiceError>>,
{
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = list(Some(PaginatedRequestParams::default().with_cursor(cursor.take())))
            .await
            .map_err(|e| classify(&e))?;
        let (page, next) = split(page);
        items.extend(page);
        if items.len() >= max {
            items.truncate(max);
            return Ok((items, true));
        }
        match next {
            None => return Ok((items, false)),
            Some(next) if !seen.insert(next.clone()) => {
                return Err(Report::failed(
                    Outcome::ProtocolError,
                    format!("the cursor {next:?} came twice"),
                ));
            }
            Some(next) => cursor = Some(next),
        }
    }
}

/// What a failed start means: rmcp names neither a transport error nor the two attempts of a start that
/// fell back to `initialize` as sources, so they are taken apart here.
fn failed_start(error: &ClientInitializeError) -> Report {
    match error {
        ClientInitializeError::TransportError { error: cause, context } => {
            let mut report = classify(cause);
            report.detail = Some(format!("{}, when {context}", outbound::error_chain(cause)));
            report
        }
        ClientInitializeError::LegacyFallbackFailed { discover, fallback } => {
            let mut report = failed_start(fallback);
            let first = failed_start(discover).detail.unwrap_or_default();
            report.detail = Some(format!(
                "server/discover: {first}; initialize: {}",
                report.detail.as_deref().unwrap_or_default()
            ));
            report
        }
        other => classify(other),
    }
}

/// The outcome an error of rmcp's or of the HTTP client's means, from the first cause in its chain that
/// tells.
fn classify(error: &(dyn std::error::Error + 'static)) -> Report {
    let detail = outbound::error_chain(error);
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(CallError::Private(_)) = current.downcast_ref::<CallError>() {
            return Report::failed(Outcome::BlockedAddress, detail);
        }
        if let Some(http) = current.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            match http {
                StreamableHttpError::AuthRequired(challenge) => {
                    let mut report = Report::failed(Outcome::RequiresAuth, detail);
                    report.http_status = Some(401);
                    report.resource_metadata = resource_metadata(&challenge.www_authenticate_header);
                    return report;
                }
                StreamableHttpError::HttpStatus(status) => return Report::http_error(status.status, detail),
                StreamableHttpError::ResponseBodyTooLarge { .. } => {
                    return Report::failed(Outcome::TooLarge, detail);
                }
                // Not named as its source either.
                StreamableHttpError::Client(request) => {
                    cause = Some(request);
                    continue;
                }
                StreamableHttpError::UnexpectedServerResponse(text) => {
                    if let Some(status) = leading_status(text) {
                        return Report::http_error(status, detail);
                    }
                }
                _ => {}
            }
        }
        if let Some(request) = current.downcast_ref::<reqwest::Error>() {
            if request.is_timeout() {
                return Report::failed(Outcome::Timeout, detail);
            }
            if let Some(status) = request.status() {
                return Report::http_error(status.as_u16(), detail);
            }
        }
        if current.downcast_ref::<rustls::Error>().is_some() {
            return Report::failed(Outcome::TlsError, detail);
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            ) {
                return Report::failed(Outcome::Refused, detail);
            }
            // An I/O error's `source()` skips the error it wraps (a TLS failure among them).
            if let Some(inner) = io.get_ref() {
                cause = Some(inner);
                continue;
            }
        }
        cause = current.source();
    }
    Report::failed(Outcome::ProtocolError, detail)
}

/// `NNN` of a message that starts `HTTP NNN`.
fn leading_status(text: &str) -> Option<u16> {
    text.strip_prefix("HTTP ")?.get(..3)?.parse().ok()
}

/// The `resource_metadata` parameter of a `WWW-Authenticate: Bearer …` challenge.
fn resource_metadata(challenge: &str) -> Option<String> {
    let (_, rest) = challenge.split_once("resource_metadata=")?;
    let rest = rest.trim_start();
    let value = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split([',', ' ']).next()?,
    };
    Some(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(remotes: &serde_json::Value) -> ServerDetail {
        serde_json::from_value(serde_json::json!({
            "name": "io.example/s", "description": "d", "version": "1.0.0", "remotes": remotes,
            "packages": [{"registryType": "npm", "identifier": "s", "version": "1.0.0", "transport": {"type": "stdio"}}],
        }))
        .unwrap()
    }

    #[test]
    fn each_remote_is_probed_or_skipped_with_why() {
        let found = targets(&server(&serde_json::json!([
            {"type": "streamable-http", "url": "https://mcp.example.com/mcp"},
            {"type": "streamable-http", "url": "https://{region}.example.com/mcp",
             "variables": {"region": {"default": "eu"}}},
            {"type": "streamable-http", "url": "https://example.com/{tenant}/mcp", "variables": {"tenant": {}}},
            {"type": "streamable-http", "url": "https://keyed.example.com/mcp",
             "headers": [{"name": "X-Api-Key", "isRequired": true, "isSecret": true}]},
            {"type": "sse", "url": "https://old.example.com/sse"},
        ])));
        let shown: Vec<String> = found
            .iter()
            .map(|t| match t {
                Target::Probe { url } => format!("probe {url}"),
                Target::Skip { outcome, detail, .. } => format!("{outcome:?}: {detail}"),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "probe https://mcp.example.com/mcp",
                "probe https://eu.example.com/mcp",
                "NeedsConfiguration: the URL needs a value for {tenant}",
                "NeedsConfiguration: the header X-Api-Key is required",
                "UnsupportedTransport: the prober does not speak sse",
            ]
        );
        assert_eq!(
            targets(&server(&serde_json::json!([])))[0],
            Target::Skip {
                url: None,
                outcome: Outcome::NotProbed,
                detail: "no remotes: packages are never started".to_owned(),
            }
        );
    }
}
