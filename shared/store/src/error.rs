//! How a store operation fails.

use registry_core::error::{BoxError, Told};
use registry_core::model::RegistryName;
use registry_core::publish::Conflict;
use registry_core::sync::DuplicateVersion;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Credentials(#[from] crate::settings::CredentialError),
    #[error("cannot prepare the SQLite file: {0}")]
    Io(#[from] std::io::Error),
    #[error("unknown registry {0}")]
    UnknownRegistry(RegistryName),
    /// The job queue refused a push, or its worker stopped with an error.
    #[error("the job queue failed: {0}")]
    Queue(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The registry's data refuses the write.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error(transparent)]
    Duplicate(#[from] DuplicateVersion),
    /// A managed registry that holds published versions is missing from the configuration.
    #[error(
        "managed registry {registry} holds {versions} published versions and is no longer configured: add it \
         back to the configuration, or delete it with its versions by `registry-admin drop-registry {registry}`"
    )]
    ManagedRegistryRemoved { registry: String, versions: i64 },
    /// Another sync of the same registry began meanwhile and cleared this one's staged rows: nothing was
    /// written, and the other sync carries on.
    #[error("another sync of registry {0} began and cleared this one's staged rows; nothing was written")]
    StagingCleared(RegistryName),
    /// The database holds what this build cannot read, or lost a row it just wrote.
    #[error("stored data is not readable: {}", Told(.what, .cause))]
    Corrupt {
        what: String,
        #[source]
        cause: Option<BoxError>,
    },
}

impl StoreError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt { what: what.into(), cause: None }
    }

    /// Stored data that did not read: `what` names it (or is empty when `cause` says it all).
    pub(crate) fn unreadable(what: impl Into<String>, cause: impl Into<BoxError>) -> Self {
        Self::Corrupt { what: what.into(), cause: Some(cause.into()) }
    }
}

pub(crate) fn is_unavailable(error: &sqlx::Error) -> bool {
    connection_lost(error)
        || match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => true,
            sqlx::Error::WorkerCrashed => true,
            // too_many_connections, query_canceled (statement_timeout).
            sqlx::Error::Database(db) => {
                db.code().is_some_and(|code| matches!(code.as_ref(), "53300" | "57014"))
            }
            _ => false,
        }
}

/// Whether `error` says the connection is gone, not that the query failed: an I/O error, or SQLSTATE class
/// 08 (connection exceptions) or 57P01–57P03 (admin_shutdown, crash_shutdown, cannot_connect_now).
pub(crate) fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}
