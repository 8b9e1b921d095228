//! Where registry data comes from. Each source kind is one file behind the small [`Source`] trait; [`fetch`]
//! picks the one a registry is configured with.

mod api;
mod file;
mod git;
mod http;

use std::future::Future;

use registry_shared::config::{RegistryConfig, Source as SourceConfig};
use registry_shared::formats::{self, Entry, Format};
use sha2::{Digest, Sha256};

pub use git::{MAX_FETCH_BYTES, set_git_timeouts};
pub use http::{HttpClient, MAX_BODY_BYTES};

/// What a source returned: its entries, and a digest of the content they came from.
#[derive(Debug)]
pub struct Fetched {
    pub entries: Vec<Entry>,
    pub content_hash: String,
}

/// A failed fetch. A transient one (network, timeout, 5xx, 429) is worth retrying soon; a permanent one
/// (unparseable data, a 404, a size limit) waits for the next interval.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub transient: bool,
    pub message: String,
}

impl SourceError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self { transient: true, message: message.into() }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self { transient: false, message: message.into() }
    }
}

/// Shared by the sources while a job runs.
pub struct Context {
    pub http: HttpClient,
    /// Where clones are kept between syncs (`worker.dataDir`).
    pub data_dir: std::path::PathBuf,
    /// The longest one sync may run (`worker.jobTimeout`).
    pub job_timeout: std::time::Duration,
    /// The window over which a git transfer must move 1 KiB (`worker.gitTimeout`).
    pub git_timeout: std::time::Duration,
}

pub trait Source {
    fn fetch(
        &self,
        format: Format,
        context: &Context,
    ) -> impl Future<Output = Result<Fetched, SourceError>> + Send;
}

/// Fetches a registry's data. Managed and Kubernetes registries are not fetched here.
pub async fn fetch(registry: &RegistryConfig, context: &Context) -> Result<Fetched, SourceError> {
    match &registry.source {
        SourceConfig::File(file) => file.fetch(registry.format, context).await,
        SourceConfig::Api(api) => api.fetch(registry.format, context).await,
        SourceConfig::Git(git) => git.fetch(registry.format, context).await,
        SourceConfig::Managed | SourceConfig::Kubernetes(_) => {
            Err(SourceError::permanent(format!("a {} registry is not fetched", registry.source.kind())))
        }
    }
}

/// Parses a file's bytes in the registry's format; the digest covers the bytes.
fn parse_bytes(format: Format, bytes: &[u8]) -> Result<Fetched, SourceError> {
    let entries = formats::parse(format, bytes).map_err(|e| SourceError::permanent(e.to_string()))?;
    Ok(Fetched { entries, content_hash: registry_shared::store::snapshot::hex(&Sha256::digest(bytes)) })
}
