//! A registry's definition: its name, format, source, schedule, filter and sync policy. The configuration
//! gives it; the release step stores it; every replica reads it back from the database and syncs from it.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::duration::{humantime_serde, humantime_serde_opt};
use crate::filter::Filter;
use crate::formats::Format;
use crate::model::RegistryName;

/// One registry's definition. The release step (`registry-admin migrate`) stores it; at run time every
/// replica reads it back from the database, so it holds no secret, only references to them (a file path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryConfig {
    pub name: RegistryName,
    pub format: Format,
    pub source: Source,
    /// `None` for registries that are never synced on a schedule (managed).
    #[serde(with = "humantime_serde_opt", default, skip_serializing_if = "Option::is_none")]
    pub sync_interval: Option<Duration>,
    pub filter: Filter,
    /// `syncPolicy`'s bounds and, for an api source, its full scrapes.
    #[serde(default)]
    pub sync_policy: SyncPolicy,
    /// Whether, how often and how carefully the worker probes the registry's remote servers.
    #[serde(default)]
    pub probe: ProbePolicy,
}

/// `probe`: the prober's settings for one registry. Off by default for every kind of registry: probing
/// connects to addresses that publishers wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProbePolicy {
    pub enabled: bool,
    /// How often every remote of the registry is probed again.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// The whole probe of one remote.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// One HTTP exchange of a probe.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Probes of one host at once, per worker, across registries.
    pub per_host_concurrency: u32,
    /// The most tools a probe lists; past it the list is kept, marked truncated.
    pub max_tools: u32,
    /// The most bytes one answer may hold.
    pub max_response_bytes: u64,
    /// Whether private, loopback and link-local addresses may be probed (in-cluster URLs need it).
    #[serde(rename = "allowPrivateIP")]
    pub allow_private_ip: bool,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: Duration::from_secs(6 * 3600),
            timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(15),
            per_host_concurrency: 1,
            max_tools: 1000,
            max_response_bytes: 4 << 20,
            allow_private_ip: false,
        }
    }
}

/// How a synced registry reads its source, beside its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// The most entries the source may list (before the filter); more fails the sync, keeping what is
    /// stored.
    pub max_entries: u64,
    /// For an api source: how often a full scrape runs in place of an incremental pull.
    #[serde(with = "humantime_serde")]
    pub full_sync_interval: Duration,
}

/// The default of `syncPolicy.maxEntries`.
pub const DEFAULT_MAX_ENTRIES: u64 = 2_000_000;
/// The default of `syncPolicy.fullSyncInterval`.
pub const DEFAULT_FULL_SYNC_INTERVAL: Duration = Duration::from_secs(24 * 3600);

impl Default for SyncPolicy {
    fn default() -> Self {
        Self { max_entries: DEFAULT_MAX_ENTRIES, full_sync_interval: DEFAULT_FULL_SYNC_INTERVAL }
    }
}

/// Where a registry's data comes from: exactly one per registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    File(FileSource),
    Git(GitSource),
    Api(ApiSource),
    Managed,
    Kubernetes(KubernetesSource),
}

impl Source {
    /// The registry type as stored and reported: file, git, api, managed or kubernetes.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::File(_) => "file",
            Self::Git(_) => "git",
            Self::Api(_) => "api",
            Self::Managed => "managed",
            Self::Kubernetes(_) => "kubernetes",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FileSource {
    Path(PathBuf),
    Url {
        url: Url,
        #[serde(with = "humantime_serde")]
        timeout: Duration,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<BasicAuth>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    /// An https, http or file URL, or a local path; never with credentials in it (see `auth`).
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRef>,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<BasicAuth>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GitRef {
    Branch(String),
    Tag(String),
    Commit(String),
}

/// HTTP basic credentials: the password is read from `password_file` by the process that uses it, so only
/// the path is ever stored or shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    pub username: String,
    pub password_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiSource {
    pub endpoint: Url,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<BasicAuth>,
}

/// ToolHive objects discovered in a cluster. The namespaces are resolved once, by the process that applies
/// the configuration (`registry-admin migrate`), and stored with the definition: workers never read them from
/// their own environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesSource {
    /// The namespaces watched; empty for every namespace.
    pub namespaces: Vec<String>,
    /// The kubeconfig each worker reads; without it, `KUBECONFIG`, `~/.kube/config`, or the in-cluster
    /// service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// How long an entry whose object is gone stays, as deleted, before it is purged.
    #[serde(with = "humantime_serde", default = "default_tombstone_retention")]
    pub tombstone_retention: Duration,
    /// The age after which a discovery that has not succeeded makes the status say it is stale; `None` for
    /// three sync intervals.
    #[serde(with = "humantime_serde_opt", default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<Duration>,
}

/// The sync interval of a kubernetes registry that sets none: the periodic resync behind the watchers.
pub const KUBERNETES_SYNC_INTERVAL: Duration = Duration::from_secs(600);

fn default_tombstone_retention() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

impl KubernetesSource {
    pub fn new(namespaces: Vec<String>) -> Self {
        Self {
            namespaces,
            kubeconfig: None,
            tombstone_retention: default_tombstone_retention(),
            stale_after: None,
        }
    }

    /// [`KubernetesSource::stale_after`], or three of the registry's sync intervals.
    pub fn stale_after_for(&self, sync_interval: Option<Duration>) -> Duration {
        self.stale_after.unwrap_or_else(|| 3 * sync_interval.unwrap_or(KUBERNETES_SYNC_INTERVAL))
    }
}
