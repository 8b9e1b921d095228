//! How a sync fails: the source's fetch ([`SourceError`]), a cluster out of reach ([`SyncError::Cluster`]) or
//! the store ([`SyncError::Store`]), each either worth retrying soon or not. Shared by the sources, the sync and the discovery, which each import it from here.

use std::time::Duration;

use registry_core::error::{BoxError, Told};
use registry_core::formats::FormatError;
use registry_runtime::config::format_duration;
use registry_store::StoreError;

use crate::kubernetes::cluster::ClusterError;

/// A failed fetch. A transient one (network, timeout, 5xx, 429) is worth retrying soon; a permanent one
/// (unparseable data, a 404, a size limit) waits for the next interval. It reads as what failed, then its
/// cause, which it keeps as its `source()`.
#[derive(Debug, thiserror::Error)]
#[error("{}", Told(.message, .cause))]
pub struct SourceError {
    transient: bool,
    message: String,
    #[source]
    cause: Option<BoxError>,
}

impl SourceError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self { transient: true, message: message.into(), cause: None }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self { transient: false, message: message.into(), cause: None }
    }

    /// Data that is not a registry file of its format: the format error says it all.
    pub fn data(error: FormatError) -> Self {
        Self::permanent(String::new()).because(error)
    }

    /// The error that made the fetch fail.
    pub fn because(self, cause: impl Into<BoxError>) -> Self {
        Self { cause: Some(cause.into()), ..self }
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A Kubernetes source's cluster cannot be reached at all.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("the sync did not finish within worker.jobTimeout ({})", format_duration(*.0))]
    TimedOut(Duration),
}

impl SyncError {
    /// Whether trying again soon may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Source(e) => e.is_transient(),
            Self::Store(
                StoreError::Duplicate(_) | StoreError::UnknownRegistry(_) | StoreError::Corrupt { .. },
            ) => false,
            Self::Store(_) | Self::Cluster(_) | Self::TimedOut(_) => true,
        }
    }
}
