//! Where registry data comes from. Each source kind is one file behind the small [`Source`] trait; [`pull`]
//! picks the one a registry is configured with. A source never holds what it lists: it reads entry by entry
//! (page by page for an api) into a [`Sink`], which stages them in the database.

mod api;
mod file;
mod git;
mod http;
mod sink;

use std::future::Future;

use registry_core::formats::Format;
use registry_runtime::config::{RegistryConfig, Source as SourceConfig};

pub use git::{MAX_FETCH_BYTES, set_git_timeouts};
pub use http::{HttpClient, MAX_BODY_BYTES};
pub use sink::{Batch, Listed, REREAD_LIMIT, Sink};

use crate::error::{SourceError, SyncError};

/// What a pull found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pulled {
    /// The content is the one the last success read (the same digest): nothing was staged.
    Unchanged,
    /// Everything the source lists went into the sink; the digest covers the content it came from.
    Read { content_hash: String },
    /// An incremental pull found the upstream cannot answer one (it ignores `updated_since`, or gives no
    /// `updatedAt`), saying why; what it staged is worthless.
    CannotPullChanges { reason: String },
}

/// What a sync asks of its source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ask<'a> {
    /// The content digest of the last success under the same filter: the same content is not read again.
    pub previous: Option<&'a str>,
    /// For an api source, pull only the versions updated strictly after this (`updated_since`).
    pub after: Option<chrono::DateTime<chrono::Utc>>,
}

/// Shared by the sources while a job runs.
pub struct Context {
    pub http: HttpClient,
    /// Where clones and downloads are kept (`worker.dataDir`).
    pub data_dir: std::path::PathBuf,
    /// The longest one sync may run (`worker.jobTimeout`).
    pub job_timeout: std::time::Duration,
    /// The window over which a git transfer must move 1 KiB (`worker.gitTimeout`).
    pub git_timeout: std::time::Duration,
}

pub trait Source {
    /// Reads the source into `sink`, unless its content digest is `ask.previous`.
    fn pull(
        &self,
        format: Format,
        context: &Context,
        ask: Ask<'_>,
        sink: &mut Sink<'_>,
    ) -> impl Future<Output = Result<Pulled, SyncError>> + Send;
}

/// Reads a registry's source into `sink`. Managed and Kubernetes registries are not read here.
pub async fn pull(
    registry: &RegistryConfig,
    context: &Context,
    ask: Ask<'_>,
    sink: &mut Sink<'_>,
) -> Result<Pulled, SyncError> {
    match &registry.source {
        SourceConfig::File(file) => file.pull(registry.format, context, ask, sink).await,
        SourceConfig::Api(api) => api.pull(registry.format, context, ask, sink).await,
        SourceConfig::Git(git) => git.pull(registry.format, context, ask, sink).await,
        SourceConfig::Managed | SourceConfig::Kubernetes(_) => {
            Err(SourceError::permanent(format!("a {} registry is not fetched", registry.source.kind()))
                .into())
        }
    }
}
