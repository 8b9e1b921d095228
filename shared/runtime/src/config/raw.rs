//! The configuration file as written: every key optional, unknown keys refused. The `validate` module turns it
//! into the checked [`super::Config`].

use serde::Deserialize;
use serde_json::{Map, Value};

use registry_core::formats::Format;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawConfig {
    pub registry_name: Option<String>,
    #[serde(default)]
    pub registries: Vec<Value>,
    pub auth: Option<Value>,
    pub database: Option<Value>,
    pub redis: Option<Value>,
    pub worker: Option<Value>,
    pub server: Option<Value>,
    pub shutdown: Option<Value>,
    pub cors: Option<Value>,
    pub mcp: Option<Value>,
    pub ui: Option<Value>,
    pub rate_limits: Option<Value>,
    pub audit: Option<Value>,
    pub cache: Option<Value>,
    pub metrics: Option<Value>,
    pub tracing: Option<Value>,
    pub publish_registry: Option<String>,
    pub validation: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRegistry {
    pub name: Option<String>,
    pub format: Option<Format>,
    pub file: Option<RawFile>,
    pub git: Option<RawGit>,
    pub api: Option<RawApi>,
    pub managed: Option<RawEmpty>,
    pub kubernetes: Option<RawKubernetes>,
    pub sync_policy: Option<RawSyncPolicy>,
    pub filter: Option<RawFilter>,
    pub probe: Option<RawProbe>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawFile {
    pub path: Option<String>,
    pub url: Option<String>,
    pub timeout: Option<String>,
    pub auth: Option<RawBasicAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawGit {
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
    pub path: Option<String>,
    pub auth: Option<RawBasicAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawApi {
    pub endpoint: Option<String>,
    pub timeout: Option<String>,
    pub auth: Option<RawBasicAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmpty {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawKubernetes {
    #[serde(default)]
    pub namespaces: Vec<String>,
    pub kubeconfig: Option<String>,
    pub tombstone_retention: Option<String>,
    pub stale_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawSyncPolicy {
    pub interval: Option<String>,
    pub full_sync_interval: Option<String>,
    pub max_entries: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawProbe {
    pub enabled: Option<bool>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub per_host_concurrency: Option<u32>,
    pub max_tools: Option<u32>,
    pub max_response_bytes: Option<RawSize>,
    #[serde(rename = "allowPrivateIP")]
    pub allow_private_ip: Option<bool>,
}

/// A size in bytes: a number, or a text such as `4MiB`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawFilter {
    #[serde(default)]
    pub names: RawIncludeExclude,
    #[serde(default)]
    pub tags: RawIncludeExclude,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawIncludeExclude {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAuth {
    pub mode: Option<String>,
    #[serde(default)]
    pub public_paths: Vec<String>,
    pub public_reads: Option<bool>,
    pub oauth: Option<RawOAuth>,
    pub authz: Option<RawAuthz>,
    /// Read by its own module (`validate/publisher_tokens.rs`), which keeps its raw shape.
    pub publisher_tokens: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAuthz {
    #[serde(default)]
    pub roles: RawRoles,
    #[serde(default)]
    pub namespaces: Vec<RawNamespaceRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRoles {
    #[serde(default)]
    pub super_admin: Vec<Map<String, Value>>,
    #[serde(default)]
    pub manage_sources: Vec<Map<String, Value>>,
    #[serde(default)]
    pub manage_registries: Vec<Map<String, Value>>,
    #[serde(default)]
    pub manage_entries: Vec<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamespaceRule {
    #[serde(rename = "match")]
    pub matcher: Map<String, Value>,
    #[serde(default)]
    pub publish: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawOAuth {
    pub resource_url: Option<String>,
    pub realm: Option<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    pub enforce_scopes: Option<bool>,
    /// Read one by one, so a bad provider does not hide the others.
    #[serde(default)]
    pub providers: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawProvider {
    pub name: Option<String>,
    pub issuer_url: Option<String>,
    pub audience: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<String>,
    pub ca_cert_path: Option<String>,
    pub jwks_url: Option<String>,
    pub auth_token_file: Option<String>,
    pub introspection_url: Option<String>,
    #[serde(default, rename = "allowPrivateIP")]
    pub allow_private_ip: bool,
    pub algorithms: Option<Vec<crate::config::SigningAlgorithm>>,
    pub leeway: Option<String>,
    pub require_at_jwt: Option<bool>,
    pub advertise: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Option<String>,
    pub path: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub migration_user: Option<String>,
    pub database: Option<String>,
    pub ssl_mode: Option<String>,
    pub password_file: Option<String>,
    pub migration_password_file: Option<String>,
    pub max_open_conns: Option<u32>,
    pub max_idle_conns: Option<u32>,
    pub conn_max_lifetime: Option<String>,
    pub acquire_timeout: Option<String>,
    pub statement_timeout: Option<String>,
    pub listen_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRedis {
    pub url: Option<String>,
    pub key_prefix: Option<String>,
    pub ttl: Option<String>,
    pub timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawWorker {
    pub concurrency: Option<u32>,
    pub probe_concurrency: Option<u32>,
    pub max_attempts: Option<u32>,
    pub backoff: Option<RawBackoff>,
    pub job_timeout: Option<String>,
    pub max_outage: Option<String>,
    pub git_timeout: Option<String>,
    pub data_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawServer {
    pub internal_address: Option<String>,
    pub header_read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_connections: Option<u32>,
    pub request_timeout: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawMetrics {
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAudit {
    pub file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawCache {
    pub enabled: Option<bool>,
    pub max_age: Option<String>,
    pub memory_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawShutdown {
    pub drain: Option<String>,
    pub grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawBackoff {
    pub min: Option<String>,
    pub max: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawUi {
    pub enabled: Option<bool>,
    pub session_ttl: Option<String>,
    pub sign_in: Option<RawSignIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawSignIn {
    pub provider: Option<String>,
    #[serde(default)]
    pub redirect_urls: Vec<String>,
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawMcp {
    pub enabled: Option<bool>,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawCors {
    pub allowed_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawValidation {
    pub strict_repository: Option<bool>,
    pub max_publisher_meta_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRateLimits {
    pub enabled: Option<bool>,
    pub reads: Option<RawRatePolicy>,
    pub search: Option<RawRatePolicy>,
    pub writes: Option<RawRatePolicy>,
    pub token_exchanges: Option<RawRatePolicy>,
    pub mcp: Option<RawRatePolicy>,
    #[serde(default)]
    pub overrides: Vec<RawRateOverride>,
    #[serde(default)]
    pub exempt: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRatePolicy {
    pub per_minute: Option<i64>,
    pub burst: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRateOverride {
    #[serde(rename = "match", default)]
    pub matcher: Map<String, Value>,
    pub class: Option<String>,
    pub per_minute: Option<i64>,
    pub burst: Option<i64>,
}
