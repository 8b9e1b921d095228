//! Writes of single server versions (managed registries), written once over a [`Dialect`], and the purge of
//! old tombstones; snapshots are in `staging.rs`. Every write ends by moving `isLatest` where [`snapshot`]
//! says it belongs.

use chrono::{DateTime, Utc};

use crate::content::{ContentWrite, EXISTING};
use crate::dialect::{Dialect, sql};
use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::publishing::{lock_remote_urls, publish_conflicts, remote_conflicts};
use crate::query::{Scope, VersionSelector};
use crate::records::{Inserted, StoredVersion};
use crate::rows::{now, server_from_body};
use crate::snapshot::{ExistingRow, RowWrite};
use crate::timestamp::Timestamp;
use registry_core::digest::body_hash;
use registry_core::model::{RegistryName, ServerJson, Status};
use registry_core::publish::Conflict;

/// Moves `isLatest` after a write to one server, and commits.
async fn settle_and_commit<DB: Dialect>(
    mut tx: ContentWrite<DB>,
    registry: &RegistryName,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.settle_server(registry, name, now).await?;
    Ok(tx.commit().await?)
}

/// Whether `server`'s version is stored, not deleted, with a document equal to it as JSON.
async fn same_version_stored<DB: Dialect>(
    tx: &mut DB::Connection,
    registry: &RegistryName,
    server: &ServerJson,
) -> Result<bool, StoreError> {
    let mut select = sql!(DB;
        "select body from server_version where registry = " {registry.as_str()} " and name = " {server.name().as_str()}
        " and version = " {server.version().as_str()} " and status <> 'deleted'"
    );
    let rows: Vec<(String,)> = DB::fetch_all(tx, &mut select).await?;
    match rows.first() {
        Some((body,)) => Ok(server_from_body(body)?.as_object() == server.as_object()),
        None => Ok(false),
    }
}

/// Whether a database error is the version key refusing a second row for one registry, name and version
/// (PostgreSQL names the constraint; SQLite names its columns).
fn is_version_key(error: &dyn sqlx::error::DatabaseError) -> bool {
    error.is_unique_violation()
        && (error.constraint() == Some("server_version_pkey")
            || error
                .message()
                .contains("server_version.registry, server_version.name, server_version.version"))
}

impl Store {
    /// Deletes a registry's tombstones (versions deleted) whose status changed before `before`; returns how
    /// many went.
    pub async fn purge_tombstones(
        &self,
        registry: &RegistryName,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        on_backend!(self, db => {
            let mut tx = ContentWrite::<DB>::begin(&db.write, None).await?;
            let mut names = sql!(DB;
                "select distinct name from server_version where registry = " {registry.as_str()}
                " and status = 'deleted' and status_changed_at < " {Timestamp(before)}
            );
            let names: Vec<(String,)> = DB::fetch_all(tx.conn(), &mut names).await?;
            if names.is_empty() {
                return Ok(0);
            }
            let mut purge = sql!(DB;
                "delete from server_version where registry = " {registry.as_str()}
                " and status = 'deleted' and status_changed_at < " {Timestamp(before)}
            );
            let purged = tx.change(registry, &mut purge).await?;
            // A name deleted everywhere is owned by the first registry that has it at all: that may move.
            tx.reshadow(Some(names.into_iter().map(|(name,)| name).collect())).await?;
            tx.commit().await?;
            Ok(purged)
        })
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
        on_backend!(self, db => {
            let (name, version) = (server.name().as_str(), server.version().as_str());
            let mut tx = ContentWrite::<DB>::begin(&db.write, Some((registry, name))).await?;
            // A retry of a publish whose answer was lost finds its own document: nothing to write.
            if same_version_stored::<DB>(tx.conn(), registry, server).await? {
                tx.commit().await?;
                let exact = VersionSelector::Exact(version.to_owned());
                let stored = self.get_version(&Scope::Registry(registry.clone()), name, &exact, true).await?;
                let record = stored.ok_or_else(|| StoreError::corrupt(format!("{name} {version} vanished")))?;
                return Ok(Inserted { record, created: false });
            }
            lock_remote_urls::<DB>(tx.conn(), registry, server).await?;
            if let Some(conflict) = publish_conflicts::<DB>(tx.conn(), registry, server).await?.into_iter().next()
            {
                return Err(conflict.into());
            }
            let now = now();
            let row = RowWrite {
                server: server.clone(),
                body_hash: body_hash(server),
                status: Status::Active,
                status_message: None,
                status_changed_at: now,
                published_at: now,
                updated_at: now,
            };
            tx.write_rows(registry, std::slice::from_ref(&row), false).await.map_err(|e| match e {
                sqlx::Error::Database(db) if is_version_key(db.as_ref()) => {
                    Conflict::VersionExists { name: name.to_owned(), version: version.to_owned() }.into()
                }
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    StoreError::UnknownRegistry(registry.clone())
                }
                other => other.into(),
            })?;
            settle_and_commit(tx, registry, name, now).await?;
            let exact = VersionSelector::Exact(version.to_owned());
            let stored = self.get_version(&Scope::Registry(registry.clone()), name, &exact, true).await?;
            let record = stored
                .ok_or_else(|| StoreError::corrupt(format!("{name} {version} vanished after its insert")))?;
            Ok(Inserted { record, created: true })
        })
    }

    /// Removes a version for good. Returns the version as it was stored, or `None` when there was none.
    pub async fn delete_version(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
    ) -> Result<Option<StoredVersion>, StoreError> {
        on_backend!(self, db => {
            let mut tx = ContentWrite::<DB>::begin(&db.write, Some((registry, name))).await?;
            // The server's lock is held: the version read here is the one the delete removes.
            let exact = VersionSelector::Exact(version.to_owned());
            let Some(record) = self.get_version(&Scope::Registry(registry.clone()), name, &exact, true).await?
            else {
                return Ok(None);
            };
            let mut delete = sql!(DB;
                "delete from server_version where registry = " {registry.as_str()} " and name = " {name}
                " and version = " {version}
            );
            tx.change(registry, &mut delete).await?;
            tx.settle_server(registry, name, now()).await?;
            tx.commit().await?;
            Ok(Some(record))
        })
    }

    /// Replaces the document of a stored, non-deleted version (an admin edit): its status, `publishedAt` and
    /// `isLatest` stay, `updatedAt` moves. A remote URL another non-deleted server uses is a
    /// [`Conflict::RemoteUrlInUse`]. `None` when the version is not stored or is deleted.
    pub async fn replace_version(
        &self,
        registry: &RegistryName,
        server: &ServerJson,
    ) -> Result<Option<StoredVersion>, StoreError> {
        on_backend!(self, db => {
            let (name, version) = (server.name().as_str(), server.version().as_str());
            let mut tx = ContentWrite::<DB>::begin(&db.write, Some((registry, name))).await?;
            let mut select = sql!(DB;
                EXISTING {registry.as_str()} " and name = " {name} " and version = " {version}
                " and status <> 'deleted'"
            );
            let current: Option<ExistingRow> = DB::fetch_all(tx.conn(), &mut select).await?.into_iter().next();
            let Some(current) = current else {
                return Ok(None);
            };
            lock_remote_urls::<DB>(tx.conn(), registry, server).await?;
            if let Some(conflict) = remote_conflicts::<DB>(tx.conn(), registry, server).await?.into_iter().next()
            {
                return Err(conflict.into());
            }
            let now = now();
            let row = RowWrite {
                server: server.clone(),
                body_hash: body_hash(server),
                status: current.status,
                status_message: current.status_message,
                status_changed_at: current.status_changed_at,
                published_at: current.published_at,
                updated_at: now,
            };
            tx.write_rows(registry, std::slice::from_ref(&row), true).await?;
            settle_and_commit(tx, registry, name, now).await?;
            let exact = VersionSelector::Exact(version.to_owned());
            self.get_version(&Scope::Registry(registry.clone()), name, &exact, true).await
        })
    }
}
