//! The status lifecycle of managed versions (the official rules): `active`, `deprecated` or `deleted`, set on
//! one version or on all versions of a server in one transaction. A deleted version can be restored, unless
//! another server has taken one of its remote URLs meanwhile.

use crate::content::ContentWrite;
use crate::dialect::{Dialect, sql};
use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::publishing::{remote_conflicts, remote_url_lock};
use crate::query::{Scope, VersionSelector};
use crate::records::StoredVersion;
use crate::rows::{now, server_from_body};
use crate::sql_store::SqlStore;
use crate::timestamp::Timestamp;
use registry_core::model::{RegistryName, ServerJson, Status};

/// What a status change did.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// How many versions changed; 0 when each already had the requested status and message.
    pub updated: usize,
    /// The version addressed, or every version of the server (newest publish first), as stored afterwards.
    pub versions: Vec<StoredVersion>,
}

impl<DB: Dialect> SqlStore<DB> {}

/// A version's status and document, as the status change reads them.
#[derive(sqlx::FromRow)]
struct CurrentStatus {
    version: String,
    status: String,
    status_message: Option<String>,
    body: String,
}

/// The versions whose status or message differ from the request, and the documents of the deleted ones
/// among them that would come back.
fn changes(
    rows: Vec<CurrentStatus>,
    status: Status,
    message: Option<&str>,
) -> Result<(Vec<String>, Vec<ServerJson>), StoreError> {
    let mut changed = Vec::new();
    let mut restored = Vec::new();
    for row in rows {
        if row.status == status.as_str() && row.status_message.as_deref() == message {
            continue;
        }
        if row.status == Status::Deleted.as_str() && status != Status::Deleted {
            restored.push(server_from_body(&row.body)?);
        }
        changed.push(row.version);
    }
    Ok((changed, restored))
}

impl Store {
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
        on_backend!(self, db => {
            let mut tx = ContentWrite::<DB>::begin(&db.write, Some((registry, name))).await?;
            let mut select = sql!(DB;
                "select version, status, status_message, body from server_version where registry = "
                {registry.as_str()} " and name = " {name}
            );
            if let Some(version) = version {
                select.push(" and version = ");
                DB::bind(&mut select, version);
            }
            let rows: Vec<CurrentStatus> = DB::fetch_all(tx.conn(), &mut select).await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let (changed, restored) = changes(rows, status, message)?;
            if !restored.is_empty() {
                DB::lock(tx.conn(), &remote_url_lock(registry)).await?;
            }
            for server in &restored {
                if let Some(conflict) =
                    remote_conflicts::<DB>(tx.conn(), registry, server).await?.into_iter().next()
                {
                    return Err(conflict.into());
                }
            }
            if !changed.is_empty() {
                let now = now();
                let mut update = sql!(DB;
                    "update server_version set status_changed_at = case when status = " {status.as_str()}
                    " then status_changed_at else " {Timestamp(now)} " end, status = " {status.as_str()}
                    ", status_message = " {message} ", updated_at = " {Timestamp(now)}
                    " where registry = " {registry.as_str()} " and name = " {name} " and "
                );
                DB::push_one_of(&mut update, "version", changed.clone());
                tx.change(registry, &mut update).await?;
                tx.settle_server(registry, name, now).await?;
            }
            tx.commit().await?;
            let scope = Scope::Registry(registry.clone());
            let versions = match version {
                Some(version) => {
                    let exact = VersionSelector::Exact(version.to_owned());
                    self.get_version(&scope, name, &exact, true).await?.into_iter().collect()
                }
                None => self.list_versions(&scope, name, true).await?,
            };
            Ok(Some(StatusUpdate { updated: changed.len(), versions }))
        })
    }
}
