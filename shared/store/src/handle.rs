//! [`Store`], what the API, the worker and the CLI use: it dispatches each operation to the PostgreSQL or the
//! SQLite backend.

use chrono::{DateTime, Utc};
use registry_core::model::{RegistryName, ServerJson, Status};
use registry_core::publish::Conflict;
use registry_core::registry::RegistryConfig;
use registry_core::sync::SyncStatus;

use crate::error::{StoreError, is_unavailable};
use crate::migrate::{self, AppliedMigration, SchemaState};
use crate::postgres::PgStore;
use crate::query::{ListQuery, Scope, VersionSelector};
use crate::records::{DueSync, Inserted, QueueSlot, Registry, RegistryChanges, ServerPage, StoredVersion};
use crate::settings::StorageConfig;
use crate::sql_store::SqlStore;
use crate::sqlite::SqliteStore;
use crate::status::StatusUpdate;
use crate::{dialect, sync_state};

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

pub(crate) use dispatch;

impl Store {
    /// Connects with the application role. It does not migrate: see [`Store::migrate`].
    pub async fn connect(config: &StorageConfig) -> Result<Self, StoreError> {
        Ok(match config {
            StorageConfig::Postgres(pg) => Self::Postgres(PgStore::connect(pg).await?),
            StorageConfig::Sqlite { path } => Self::Sqlite(SqliteStore::open(path).await?),
        })
    }

    /// As [`Store::connect`], for the API: on PostgreSQL its read connections carry `statement_timeout`.
    pub async fn connect_serving(config: &StorageConfig) -> Result<Self, StoreError> {
        Ok(match config {
            StorageConfig::Postgres(pg) => Self::Postgres(PgStore::connect_serving(pg).await?),
            StorageConfig::Sqlite { path } => Self::Sqlite(SqliteStore::open(path).await?),
        })
    }

    /// Whether an error says the database cannot be reached or did not answer in time (pool exhausted or
    /// closed, connection refused or lost, a statement cancelled by its timeout), so that trying again later
    /// may succeed.
    pub fn is_unavailable(error: &StoreError) -> bool {
        match error {
            StoreError::Database(error) => is_unavailable(error),
            _ => false,
        }
    }

    /// Applies our pending migrations and the job queue's, with the migration role. Running it again is a
    /// no-op. Returns what it applied.
    pub async fn migrate(config: &StorageConfig) -> Result<Vec<AppliedMigration>, StoreError> {
        migrate::run(config).await
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Postgres(store) => sqlx::query("select 1").execute(store.pool()).await.map(drop)?,
            Self::Sqlite(store) => sqlx::query("select 1").execute(store.pool()).await.map(drop)?,
        }
        Ok(())
    }

    /// For an API replica on PostgreSQL, a listener subscribed to new content generations (notified at
    /// each commit that bumps one), on a connection of its own (`database.listenUrl` when set); `None` on
    /// SQLite, whose readers poll, and for a store not opened for serving. It reconnects by itself on its
    /// next `recv`.
    pub async fn generation_listener(&self) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        let Self::Postgres(SqlStore { listen: Some(pool), .. }) = self else { return Ok(None) };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(dialect::GENERATION_CHANNEL).await?;
        Ok(Some(listener))
    }

    /// Whether the schema is reachable and up to date.
    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        match self {
            Self::Postgres(store) => migrate::state_postgres(store).await,
            Self::Sqlite(store) => migrate::state_sqlite(store).await,
        }
    }

    /// Makes the stored registries match the configuration (the release step's job on PostgreSQL):
    /// upserts each in config order, resets the sync state of a registry whose source changed, and removes
    /// registries (with their data) that are gone. A managed registry that still holds versions is never
    /// removed this way: that is [`StoreError::ManagedRegistryRemoved`], and nothing changes (see
    /// [`Store::drop_registry`]). Returns what changed.
    pub async fn apply_registries(
        &self,
        registries: &[RegistryConfig],
    ) -> Result<RegistryChanges, StoreError> {
        dispatch!(self.apply_registries(registries))
    }

    /// Deletes a stored registry with all its versions; the number of versions, or `None` if it is unknown.
    pub async fn drop_registry(&self, registry: &RegistryName) -> Result<Option<i64>, StoreError> {
        dispatch!(self.drop_registry(registry))
    }

    /// The stored registry set, in config order: the truth at run time.
    pub async fn list_registries(&self) -> Result<Vec<Registry>, StoreError> {
        dispatch!(self.list_registries())
    }

    /// This database's identity, made once by its migrations: content generations are unique only within
    /// one database, so a cache that several databases may share keys its entries by this too.
    pub async fn instance_id(&self) -> Result<String, StoreError> {
        dispatch!(self.instance_id())
    }

    /// Stored server versions per (registry, status).
    pub async fn version_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        dispatch!(self.version_counts())
    }

    /// The pool reads go through: connections open, idle, and the most it opens.
    pub fn read_pool(&self) -> (u32, usize, u32) {
        match self {
            Self::Postgres(store) => store.read_pool(),
            Self::Sqlite(store) => store.read_pool(),
        }
    }

    /// One stored registry.
    pub async fn registry(&self, name: &RegistryName) -> Result<Option<Registry>, StoreError> {
        Ok(self.list_registries().await?.into_iter().find(|r| &r.name == name))
    }

    pub async fn sync_status(&self, registry: &RegistryName) -> Result<Option<SyncStatus>, StoreError> {
        dispatch!(self.sync_status(registry))
    }

    pub async fn put_sync_status(&self, status: &SyncStatus) -> Result<(), StoreError> {
        dispatch!(self.put_sync_status(status))
    }

    /// Deletes a registry's tombstones (versions deleted) whose status changed before `before`; returns how
    /// many went.
    pub async fn purge_tombstones(
        &self,
        registry: &RegistryName,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        dispatch!(self.purge_tombstones(registry, before))
    }

    /// See [`SyncStatus::requested_at`]: a Kubernetes watcher's way to ask for a discovery.
    pub async fn request_sync(&self, registry: &RegistryName) -> Result<bool, StoreError> {
        dispatch!(self.request_sync(registry))
    }

    /// Records a kubernetes registry's last discovery report (see [`SyncStatus::discovery`]).
    pub async fn put_discovery(
        &self,
        registry: &RegistryName,
        report: &serde_json::Value,
    ) -> Result<(), StoreError> {
        dispatch!(self.put_report(registry, sync_state::Report::Discovery, report))
    }

    /// Records a kubernetes registry's watcher state (see [`SyncStatus::watcher`]).
    pub async fn put_watcher(
        &self,
        registry: &RegistryName,
        state: &serde_json::Value,
    ) -> Result<(), StoreError> {
        dispatch!(self.put_report(registry, sync_state::Report::Watcher, state))
    }

    /// The reads return versions as stored ([`StoredVersion`]): bodies are served as
    /// they are, checked to be JSON but never deserialised into a document.
    pub async fn list_servers(&self, query: &ListQuery) -> Result<ServerPage, StoreError> {
        dispatch!(self.list_servers(query))
    }

    /// Every version of one server, newest publish first. Empty when the server is unknown in the scope.
    pub async fn list_versions(
        &self,
        scope: &Scope,
        name: &str,
        include_deleted: bool,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        dispatch!(self.list_versions(scope, name, include_deleted))
    }

    pub async fn get_version(
        &self,
        scope: &Scope,
        name: &str,
        version: &VersionSelector,
        include_deleted: bool,
    ) -> Result<Option<StoredVersion>, StoreError> {
        dispatch!(self.get_version(scope, name, version, include_deleted))
    }

    /// Stores a new version in a managed registry, active and published now. When that version is stored
    /// already, not deleted, with a document equal to this one as JSON (a retried publish), nothing is
    /// written and the stored version is returned with `created: false`. Any other version that exists, a
    /// remote URL another non-deleted server uses, or a server at its version cap is a
    /// [`StoreError::Conflict`]. The checks run under a lock on the server (and on the registry's remote
    /// URLs), and the unique key decides in the end, so concurrent publishes cannot both win.
    pub async fn insert_version(
        &self,
        registry: &RegistryName,
        server: &ServerJson,
    ) -> Result<Inserted, StoreError> {
        dispatch!(self.insert_version(registry, server))
    }

    /// What would stop `server` from being published to `registry` now (read only; `/validate` reports it).
    pub async fn publish_conflicts(
        &self,
        registry: &RegistryName,
        server: &ServerJson,
    ) -> Result<Vec<Conflict>, StoreError> {
        dispatch!(self.publish_conflicts(registry, server))
    }

    /// Sets the status of one version, or (with `version: None`) of every version of a server, in one
    /// transaction. Versions that already have this status and message are left alone; for the others
    /// `status_changed_at` moves only when the status changes, `updated_at` always, and `isLatest` is
    /// recomputed. Restoring a deleted version re-checks its remote URLs ([`Conflict::RemoteUrlInUse`]).
    /// `None` when no such version exists (deleted ones included).
    pub async fn set_status(
        &self,
        registry: &RegistryName,
        name: &str,
        version: Option<&str>,
        status: Status,
        message: Option<&str>,
    ) -> Result<Option<StatusUpdate>, StoreError> {
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

    /// The registries queued or syncing, with the job that holds each (`None` if none is recorded).
    pub async fn in_flight_syncs(&self) -> Result<Vec<(RegistryName, Option<String>)>, StoreError> {
        dispatch!(self.in_flight_syncs())
    }

    /// Puts a registry that is queued or syncing as `job_id` back to due now, recording `reason` as its last
    /// error and a failed attempt, unless another job holds it by now. Returns whether it did.
    pub async fn release_sync(
        &self,
        registry: &RegistryName,
        job_id: Option<&str>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self.release_sync(registry, job_id, reason))
    }

    /// Claims the registries whose sync is due (`next_due_at <= now`, not queued or syncing, scheduled) and
    /// moves each one's `next_due_at` a sync interval past `now`, in one transaction; the caller enqueues
    /// their jobs. Concurrent callers, from
    /// any number of replicas, never claim the same registry for the same slot.
    pub async fn claim_due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueSync>, StoreError> {
        dispatch!(self.claim_due(now, limit))
    }

    /// Replaces the document of a stored, non-deleted version (an admin edit): its status, `publishedAt` and
    /// `isLatest` stay, `updatedAt` moves. A remote URL another non-deleted server uses is a
    /// [`Conflict::RemoteUrlInUse`]. `None` when the version is not stored or is deleted.
    pub async fn replace_version(
        &self,
        registry: &RegistryName,
        server: &ServerJson,
    ) -> Result<Option<StoredVersion>, StoreError> {
        dispatch!(self.replace_version(registry, server))
    }

    /// Removes a version for good. Returns the version as it was stored, or `None` when there was none.
    pub async fn delete_version(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
    ) -> Result<Option<StoredVersion>, StoreError> {
        dispatch!(self.delete_version(registry, name, version))
    }
}
