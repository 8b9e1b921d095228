//! Storage: one contract, two backends. [`Store`] is what the API, the worker and the CLI use; it dispatches to
//! PostgreSQL (production: JSONB bodies, trigram search, advisory locks) or SQLite (the embedded single-node
//! default: WAL, one writer). The same contract test suite runs against both.
//!
//! Rules that do not depend on SQL (snapshot diffing, where `isLatest` goes) live in [`snapshot`], so both
//! backends apply them identically.

mod dialect;
mod migrate;
mod postgres;
pub mod query;
pub mod snapshot;
mod sql;
mod sql_store;
mod sqlite;
mod writes;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::{RegistryConfig, StorageConfig};
use crate::formats::{Entry, Format};
use crate::model::{OfficialMeta, RegistryName, ServerJson, ServerResponse, Status};

pub use migrate::{AppliedMigration, SchemaState};
pub use postgres::PgStore;
pub use query::{Cursor, InvalidCursor, ListQuery, Scope, VersionSelector};
pub use snapshot::{DuplicateVersion, SnapshotSummary};
pub use sql_store::SqlStore;
pub use sqlite::SqliteStore;

/// One stored server version with its registry-owned metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRecord {
    pub registry: RegistryName,
    pub server: ServerJson,
    pub official: OfficialMeta,
}

impl ServerRecord {
    pub fn into_response(self) -> ServerResponse {
        ServerResponse::new(self.server, self.official)
    }
}

/// One page of a list; `next_cursor` is set only when another row exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerPage {
    pub items: Vec<ServerRecord>,
    pub next_cursor: Option<Cursor>,
}

/// A configured registry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registry {
    pub name: RegistryName,
    /// file, git, api, managed or kubernetes.
    pub kind: String,
    pub format: Format,
    pub source: Value,
    pub filter: Value,
    pub sync_interval: Option<Duration>,
    /// Config order, the precedence of the aggregated view.
    pub position: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncPhase {
    Idle,
    Queued,
    Syncing,
    Complete,
    Failed,
}

impl SyncPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Queued => "queued",
            Self::Syncing => "syncing",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        serde_json::from_value(Value::String(raw.to_owned()))
            .map_err(|_| StoreError::Corrupt(format!("unknown sync phase {raw:?}")))
    }
}

/// See [`Store::claim_queue_slot`].
pub enum QueueSlot {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// A sync is queued or running already, as this job.
    Taken(Option<String>),
}

/// A registry claimed for a sync: `slot` is the due time it was claimed for, unique per registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSync {
    pub registry: RegistryName,
    pub slot: DateTime<Utc>,
}

/// The sync state of one registry (one row per registry).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    #[serde(skip)]
    pub registry: RegistryName,
    pub phase: SyncPhase,
    pub message: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub next_due_at: Option<DateTime<Utc>>,
    /// Consecutive failed attempts.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub content_hash: Option<String>,
    pub filter_hash: Option<String>,
    pub server_count: i32,
    pub last_duration_ms: Option<i64>,
    /// The queued or running sync job, while there is one.
    pub job_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Credentials(#[from] crate::config::CredentialError),
    #[error("cannot prepare the SQLite file: {0}")]
    Io(#[from] std::io::Error),
    #[error("unknown registry {0}")]
    UnknownRegistry(RegistryName),
    #[error("{name} version {version} already exists")]
    VersionExists { name: String, version: String },
    #[error(transparent)]
    Duplicate(#[from] DuplicateVersion),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
}

/// The storage backend in use.
#[derive(Debug, Clone)]
pub enum Store {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Postgres(store) => store.$method($($arg),*).await,
            Store::Sqlite(store) => store.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Connects with the application role. It does not migrate: see [`Store::migrate`].
    pub async fn connect(config: &StorageConfig) -> Result<Self, StoreError> {
        Ok(match config {
            StorageConfig::Postgres(pg) => Self::Postgres(PgStore::connect(pg).await?),
            StorageConfig::Sqlite { path } => Self::Sqlite(SqliteStore::open(path).await?),
        })
    }

    /// Applies our pending migrations and the job queue's, with the migration role. Running it again is a
    /// no-op. Returns what it applied.
    pub async fn migrate(config: &StorageConfig) -> Result<Vec<AppliedMigration>, StoreError> {
        migrate::run(config).await
    }

    /// Whether the schema is reachable and up to date.
    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        match self {
            Self::Postgres(store) => migrate::state_postgres(store).await,
            Self::Sqlite(store) => migrate::state_sqlite(store).await,
        }
    }

    /// Makes the stored registries match the configuration: upserts each in config order, resets the sync
    /// state of a registry whose source changed, and removes registries (with their data) that are gone.
    pub async fn sync_registries(&self, registries: &[RegistryConfig]) -> Result<(), StoreError> {
        dispatch!(self.sync_registries(registries))
    }

    pub async fn list_registries(&self) -> Result<Vec<Registry>, StoreError> {
        dispatch!(self.list_registries())
    }

    pub async fn sync_status(&self, registry: &RegistryName) -> Result<Option<SyncStatus>, StoreError> {
        dispatch!(self.sync_status(registry))
    }

    pub async fn put_sync_status(&self, status: &SyncStatus) -> Result<(), StoreError> {
        dispatch!(self.put_sync_status(status))
    }

    /// Replaces a registry's contents in one transaction: new and changed versions are written, versions that
    /// disappeared become tombstones (status `deleted`), and `isLatest` is recomputed.
    pub async fn write_snapshot(
        &self,
        registry: &RegistryName,
        entries: Vec<Entry>,
    ) -> Result<SnapshotSummary, StoreError> {
        dispatch!(self.write_snapshot(registry, entries))
    }

    pub async fn list_servers(&self, query: &ListQuery) -> Result<ServerPage, StoreError> {
        dispatch!(self.list_servers(query))
    }

    /// Every version of one server, newest publish first. Empty when the server is unknown in the scope.
    pub async fn list_versions(
        &self,
        scope: &Scope,
        name: &str,
        include_deleted: bool,
    ) -> Result<Vec<ServerRecord>, StoreError> {
        dispatch!(self.list_versions(scope, name, include_deleted))
    }

    pub async fn get_version(
        &self,
        scope: &Scope,
        name: &str,
        version: &VersionSelector,
        include_deleted: bool,
    ) -> Result<Option<ServerRecord>, StoreError> {
        dispatch!(self.get_version(scope, name, version, include_deleted))
    }

    /// Stores a new version in a (managed) registry. A version that exists already is
    /// [`StoreError::VersionExists`]: the unique key decides, so concurrent publishes cannot both win.
    pub async fn insert_version(
        &self,
        registry: &RegistryName,
        server: &ServerJson,
    ) -> Result<ServerRecord, StoreError> {
        dispatch!(self.insert_version(registry, server))
    }

    /// Sets a version's status. `status_changed_at` moves only when the status changes; `updated_at` always.
    /// `None` when the version does not exist.
    pub async fn set_status(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
        status: Status,
        message: Option<&str>,
    ) -> Result<Option<ServerRecord>, StoreError> {
        dispatch!(self.set_status(registry, name, version, status, message))
    }

    /// Marks a registry's sync queued as `job_id`, in a transaction the caller pushes the job into and
    /// commits. When a sync is already queued or running, nothing is marked and its job id is returned.
    pub async fn claim_queue_slot(
        &self,
        registry: &RegistryName,
        job_id: &str,
    ) -> Result<QueueSlot, StoreError> {
        Ok(match self {
            Self::Postgres(store) => match store.claim_queue_slot(registry, job_id).await? {
                Ok(tx) => QueueSlot::Postgres(tx),
                Err(existing) => QueueSlot::Taken(existing),
            },
            Self::Sqlite(store) => match store.claim_queue_slot(registry, job_id).await? {
                Ok(tx) => QueueSlot::Sqlite(tx),
                Err(existing) => QueueSlot::Taken(existing),
            },
        })
    }

    /// Claims the registries whose sync is due (`next_due_at <= now`, not queued or syncing, scheduled) and
    /// moves each one's `next_due_at` a sync interval past `now`, in one transaction; the caller enqueues
    /// their jobs. Concurrent callers, from
    /// any number of replicas, never claim the same registry for the same slot.
    pub async fn claim_due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueSync>, StoreError> {
        dispatch!(self.claim_due(now, limit))
    }

    /// Removes a version for good. Returns whether it existed.
    pub async fn delete_version(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self.delete_version(registry, name, version))
    }
}

/// Cuts the look-ahead row off a page and derives the next cursor from the last row kept.
pub(crate) fn page(mut items: Vec<ServerRecord>, limit: u32) -> ServerPage {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = more.then(|| items.last()).flatten().map(|last| Cursor {
        name: last.server.name().to_string(),
        version: last.server.version().to_string(),
    });
    ServerPage { items, next_cursor }
}

/// The current time at the storage precision (microseconds), so both backends return what they were given.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Builds the registry-owned metadata of a row.
pub(crate) fn official(
    status: &str,
    status_message: Option<String>,
    status_changed_at: DateTime<Utc>,
    published_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    is_latest: bool,
) -> Result<OfficialMeta, StoreError> {
    Ok(OfficialMeta {
        status: status
            .parse()
            .map_err(|e: crate::model::envelope::UnknownStatus| StoreError::Corrupt(e.to_string()))?,
        status_changed_at,
        status_message,
        published_at,
        updated_at,
        is_latest,
    })
}

pub(crate) fn server_from_body(body: Value) -> Result<ServerJson, StoreError> {
    ServerJson::from_value(body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The stored form of a registry's configuration.
pub(crate) struct RegistryRow {
    pub name: String,
    pub kind: &'static str,
    pub format: &'static str,
    pub source: Value,
    pub filter: Value,
    pub sync_interval_ms: Option<i64>,
    pub position: i32,
}

impl RegistryRow {
    pub fn from_config(position: usize, config: &RegistryConfig) -> Self {
        Self {
            name: config.name.to_string(),
            kind: config.source.kind(),
            format: config.format.as_str(),
            source: serde_json::to_value(&config.source).unwrap_or(Value::Null),
            filter: serde_json::to_value(&config.filter).unwrap_or(Value::Null),
            sync_interval_ms: config.sync_interval.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            position: i32::try_from(position).unwrap_or(i32::MAX),
        }
    }
}

pub(crate) fn parse_format(raw: &str) -> Result<Format, StoreError> {
    serde_json::from_value(Value::String(raw.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("unknown format {raw:?}")))
}

pub(crate) fn parse_registry_name(raw: &str) -> Result<RegistryName, StoreError> {
    RegistryName::parse(raw).map_err(|e| StoreError::Corrupt(e.0))
}

/// How a configured registry relates to what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegistryChange {
    New,
    /// Kind, format, source or filter changed: the next sync must run and rewrite.
    SourceChanged,
    /// Only the schedule or position may differ.
    Same,
}

/// The stored fields that decide [`RegistryChange`], as (name, kind, format, source, filter).
pub(crate) type StoredSource = (String, String, String, Value, Value);

pub(crate) fn plan_registries(
    stored: &[StoredSource],
    config: &[RegistryConfig],
) -> Vec<(RegistryRow, RegistryChange)> {
    config
        .iter()
        .enumerate()
        .map(|(position, registry)| {
            let row = RegistryRow::from_config(position, registry);
            let change = match stored.iter().find(|(name, ..)| *name == row.name) {
                None => RegistryChange::New,
                Some((_, kind, format, source, filter))
                    if kind == row.kind
                        && format == row.format
                        && *source == row.source
                        && *filter == row.filter =>
                {
                    RegistryChange::Same
                }
                Some(_) => RegistryChange::SourceChanged,
            };
            (row, change)
        })
        .collect()
}

/// The sync state a registry starts with: a managed registry is never synced; any other is due at once.
pub(crate) fn initial_sync_status(
    row: &RegistryRow,
    now: DateTime<Utc>,
) -> (SyncPhase, Option<&'static str>, Option<DateTime<Utc>>) {
    if row.kind == "managed" {
        (SyncPhase::Complete, Some("managed registry: written through the API, never synced"), None)
    } else {
        (SyncPhase::Idle, None, Some(now))
    }
}
