//! The service configuration: one [`Config`], loaded in layers (defaults, the YAML file, then `REGISTRY_*`
//! environment variables) and validated at once, reporting every problem with its key path.
//!
//! The shape is ToolHive Registry Server v0.4.9's (`registryName`, `registries[]`, `auth`, `database`), so its
//! configs load unchanged, plus our additions: `database.url`, `database.path`, `redis.url` and `worker`.

mod auth;
mod cache;
mod database;
mod errors;
mod load;
mod publisher_methods;
mod publisher_tokens;
mod rate_limits;
mod raw;
mod telemetry;
mod validate;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use registry_core::duration::humantime_serde;
use registry_core::model::RegistryName;

pub use auth::{
    AuthConfig, AuthMode, AuthzConfig, ClaimMatch, NamespaceRule, OAuthConfig, OAuthProvider, Roles,
    SigningAlgorithm,
};
pub use cache::{CacheConfig, RedisConfig};
pub use database::database_warnings;
// The sections whose types live where they are consumed: a registry's definition and the filter in the
// domain, publish validation's settings beside the rules, the database's settings in the store.
pub use errors::{ConfigErrors, ConfigProblem};
pub use load::ENV_PREFIX;
pub use publisher_methods::{
    DEFAULT_DNS_TIMEOUT, DEFAULT_HTTP_TIMEOUT, DnsMethod, GITHUB_ACTIONS_ISSUER, GITHUB_API,
    GITHUB_OIDC_AUDIENCE, GithubAtMethod, GithubOidcMethod, HttpMethod, NoneMethod, OidcMethod, Outbound,
    PublisherMethods, is_github_login,
};
pub use publisher_tokens::{
    ANONYMOUS_NAMESPACE, DEFAULT_TOKEN_TTL, KeyFileError, PublisherTokensConfig, Seed,
};
pub use rate_limits::{RateClass, RateLimitsConfig, RateOverride, RatePolicy};
pub use registry_core::duration::format_duration;
pub use registry_core::filter::{Filter, IncludeExclude};
pub use registry_core::registry::{
    ApiSource, BasicAuth, DEFAULT_FULL_SYNC_INTERVAL, DEFAULT_MAX_ENTRIES, FileSource, GitRef, GitSource,
    KUBERNETES_SYNC_INTERVAL, KubernetesSource, ProbePolicy, RegistryConfig, Source, SyncPolicy,
};
pub use registry_core::validation::ValidationConfig;
pub use registry_store::settings::{
    CredentialError, DEFAULT_SQLITE_PATH, PasswordSource, PostgresConfig, PostgresTarget, Role, SslMode,
    StorageConfig,
};
pub use telemetry::{OtlpConfig, TracingConfig};

/// The checked configuration.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub registry_name: String,
    /// In config order, which is also the precedence order of the aggregated view.
    pub registries: Vec<RegistryConfig>,
    pub auth: AuthConfig,
    pub database: StorageConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisConfig>,
    pub worker: WorkerConfig,
    pub server: ServerConfig,
    pub shutdown: ShutdownConfig,
    pub cors: CorsConfig,
    pub mcp: McpConfig,
    pub ui: UiConfig,
    pub rate_limits: RateLimitsConfig,
    pub audit: AuditConfig,
    pub cache: CacheConfig,
    pub metrics: MetricsConfig,
    pub tracing: TracingConfig,
    /// The managed registry that the root publish routes (`/v0.1/publish`, `/v0/publish`) write to. When
    /// unset, the only managed registry, if there is exactly one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_registry: Option<RegistryName>,
    pub validation: ValidationConfig,
}

/// The audit trail: one event per write and per refused request, always to the log under target `audit`,
/// and with `file` also appended to that file as JSON lines (reopened on SIGHUP, for logrotate).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// Which browser origins may call the API. The reads are public metadata, so any origin by default, as the
/// official registry does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsConfig {
    /// `*`, or origins such as `https://portal.example.com`.
    pub allowed_origins: Vec<String>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self { allowed_origins: vec!["*".to_owned()] }
    }
}

/// The registry as an MCP server: the stateless Streamable HTTP endpoint `/mcp` on the public listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct McpConfig {
    pub enabled: bool,
    /// The `Host` values `/mcp` answers (a name without a port matches any port); empty: any host.
    pub allowed_hosts: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self { enabled: true, allowed_hosts: Vec::new() }
    }
}

/// The web catalogue under `/ui` on the public listener, where `/` leads when it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiConfig {
    pub enabled: bool,
    /// The longest a signed-in session lasts; it ends sooner when its access token expires.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Sign-in through one of `auth.oauth.providers` (oauth mode only); without it nobody signs in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignInConfig>,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self { enabled: true, session_ttl: DEFAULT_SESSION_TTL, sign_in: None }
    }
}

/// `ui.sessionTtl` when unset.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// The path every `ui.signIn.redirectUrls` entry ends in: where the provider sends the browser back.
pub const SIGN_IN_CALLBACK_PATH: &str = "/ui/auth/callback";

/// Whether a URL's host is this machine: where a plain-HTTP cookie is as safe as a Secure one.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The OpenID Connect authorization code flow (with PKCE) of the web catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInConfig {
    /// The name of the provider in `auth.oauth.providers`, whose `clientId` and `clientSecretFile` sign in.
    pub provider: String,
    /// The callback on each public host, each ending in [`SIGN_IN_CALLBACK_PATH`]; a request's `Host`
    /// picks its own.
    pub redirect_urls: Vec<url::Url>,
    /// The scopes asked for; `openid` is always among them.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerConfig {
    pub concurrency: u32,
    /// Probes of remote MCP servers at once in this worker, across registries; they hold no sync slot.
    pub probe_concurrency: u32,
    /// Tries of one sync, the first included; a transient failure is retried as a delayed job.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// The longest one sync may run, whatever its source; a sync past it fails as transient.
    #[serde(with = "humantime_serde")]
    pub job_timeout: Duration,
    /// How long a worker may go on failing to reach the queue before it exits non-zero, so that its
    /// orchestrator restarts it.
    #[serde(with = "humantime_serde")]
    pub max_outage: Duration,
    /// How long a git fetch may wait to connect, or for any byte; a transfer that moves under 1 KiB in this
    /// window is cut off too.
    #[serde(with = "humantime_serde")]
    pub git_timeout: Duration,
    /// Where the worker keeps what it may reuse between syncs (git clones).
    pub data_dir: PathBuf,
}

/// The HTTP server's bounds on connections and requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerConfig {
    /// The internal listener of every process: `/metrics`, `/health`, `/readiness` and `/version`, with no
    /// authentication and no audit. Not for the public.
    pub internal_address: std::net::SocketAddr,
    /// How long a client may take to send a request head, from accepting the connection or from the
    /// head's first byte; past it the connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request between requests.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The most connections open at once; unset, what the file descriptor limit allows. At the limit the
    /// connection idle the longest is closed to admit a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// The longest a request may take; past it the answer is 503 with `Retry-After`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The proxies (networks) whose `X-Forwarded-For` names the client recorded in the audit trail; from
    /// anyone else the header is ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            internal_address: std::net::SocketAddr::from(([0, 0, 0, 0], 8081)),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
            request_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Prometheus metrics, served on the internal listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsConfig {
    /// `false` records nothing (`/metrics` answers 404): the cost of metrics, measured.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `HOST:PORT`, or `:PORT` for every interface.
pub fn parse_address(raw: &str) -> Result<std::net::SocketAddr, String> {
    let full = if raw.starts_with(':') { format!("0.0.0.0{raw}") } else { raw.to_owned() };
    full.parse().map_err(|e| format!("{raw:?} is not HOST:PORT or :PORT ({e})"))
}

/// What a process does on SIGTERM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownConfig {
    /// How long the API goes on serving with `/readiness` at 503 after SIGTERM, so that load balancers stop
    /// sending before it stops accepting (`0s`: stop at once). SIGINT never drains.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
    /// How long in-flight requests, and running sync jobs, may take to finish after that; a job still
    /// running then is given back to the queue.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self { drain: Duration::from_secs(5), grace: Duration::from_secs(20) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backoff {
    #[serde(with = "humantime_serde")]
    pub min: Duration,
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            probe_concurrency: 4,
            max_attempts: 5,
            backoff: Backoff { min: Duration::from_secs(1), max: Duration::from_secs(300) },
            job_timeout: Duration::from_secs(600),
            max_outage: Duration::from_secs(300),
            git_timeout: Duration::from_secs(30),
            data_dir: PathBuf::from("./data"),
        }
    }
}

impl Config {
    /// Loads a configuration file with the process environment's `REGISTRY_*` overrides.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigProblem {
                path: String::new(),
                message: format!("{}: {e}", path.display()),
            }])
        })?;
        Self::from_yaml(&text, std::env::vars())
    }

    /// Parses and validates YAML text, applying the given `REGISTRY_*` variables on top.
    pub fn from_yaml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigErrors> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let variable = |name: &str| env.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        let environment = validate::Environment {
            insecure_issuers: variable(INSECURE_ISSUERS).as_deref() == Some("true"),
            watch_namespaces: variable(WATCH_NAMESPACE_VARIABLE),
        };
        let layered = load::layer(text, env)?;
        validate::validate(layered, &environment)
    }

    pub fn registry(&self, name: &RegistryName) -> Option<&RegistryConfig> {
        self.registries.iter().find(|r| &r.name == name)
    }

    /// What a valid configuration may still get wrong, each with its key path; `registry-admin config check`
    /// prints them (and fails on them with `--deny-warnings`).
    pub fn warnings(&self) -> Vec<ConfigProblem> {
        let mut warnings = match &self.database {
            StorageConfig::Postgres(postgres) => database_warnings(postgres),
            StorageConfig::Sqlite { .. } => Vec::new(),
        };
        warnings.extend(self.auth.warning());
        warnings
    }
}

/// The environment variable ToolHive reads for the watched namespaces, comma-separated: used when the
/// configuration names none.
pub const WATCH_NAMESPACE_VARIABLE: &str = "THV_REGISTRY_WATCH_NAMESPACE";

/// The environment variable (never a YAML key) that allows plain-http token issuers off loopback.
pub const INSECURE_ISSUERS: &str = "REGISTRY_INSECURE_HTTP_ISSUERS";

#[cfg(test)]
mod tests;
