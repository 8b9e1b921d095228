//! How a sync fails: the source's fetch ([`SourceError`]) or the store ([`SyncError::Store`]), each either worth
//! retrying soon or not. Shared by the sources, the sync and the discovery, which each import it from here.

use std::time::Duration;

use registry_runtime::config::format_duration;
use registry_store::StoreError;

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

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the sync did not finish within worker.jobTimeout ({})", format_duration(*.0))]
    TimedOut(Duration),
}

impl SyncError {
    /// Whether trying again soon may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Source(e) => e.transient,
            Self::Store(
                StoreError::Duplicate(_) | StoreError::UnknownRegistry(_) | StoreError::Corrupt(_),
            ) => false,
            Self::Store(_) | Self::TimedOut(_) => true,
        }
    }
}
