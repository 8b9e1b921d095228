//! The status lifecycle of managed versions (the official rules): `active`, `deprecated` or `deleted`, set on
//! one version or on all versions of a server in one transaction. A deleted version can be restored, unless
//! another server has taken one of its remote URLs meanwhile.

use super::content::ContentWrite;
use super::dialect::{Bind, Dialect, Row, statement};
use super::publishing::{remote_conflicts, remote_url_lock};
use super::query::{Scope, VersionSelector};
use super::sql_store::SqlStore;
use super::{StoreError, StoredVersion, now, server_from_body};
use crate::model::{RegistryName, ServerJson, Status};

/// What a status change did.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    /// How many versions changed; 0 when each already had the requested status and message.
    pub updated: usize,
    /// The version addressed, or every version of the server (newest publish first), as stored afterwards.
    pub versions: Vec<StoredVersion>,
}

impl<DB: Dialect> SqlStore<DB> {
    pub(super) async fn set_status(
        &self,
        registry: &RegistryName,
        name: &str,
        version: Option<&str>,
        status: Status,
        message: Option<&str>,
    ) -> Result<Option<StatusUpdate>, StoreError> {
        let mut tx = ContentWrite::<DB>::begin(&self.write, Some((registry, name))).await?;
        let mut sql = "select version, status, status_message, body from server_version \
                       where registry = ? and name = ?"
            .to_owned();
        let mut binds = vec![registry.as_str().into(), Bind::from(name)];
        if let Some(version) = version {
            sql.push_str(" and version = ?");
            binds.push(version.into());
        }
        let rows = DB::fetch_all(tx.conn(), &mut statement::<DB>(&sql, binds)).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let (changed, restored) = changes::<DB>(&rows, status, message)?;
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
            let mut update = statement::<DB>(
                "update server_version set \
                 status_changed_at = case when status = ? then status_changed_at else ? end, \
                 status = ?, status_message = ?, updated_at = ? where registry = ? and name = ? and ",
                [
                    status.as_str().into(),
                    now.into(),
                    status.as_str().into(),
                    message.into(),
                    now.into(),
                    registry.as_str().into(),
                    name.into(),
                ],
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
    }
}

/// The versions whose status or message differ from the request, and the documents of the deleted ones
/// among them that would come back.
fn changes<DB: Dialect>(
    rows: &[Row<DB>],
    status: Status,
    message: Option<&str>,
) -> Result<(Vec<String>, Vec<ServerJson>), StoreError> {
    let mut changed = Vec::new();
    let mut restored = Vec::new();
    for row in rows {
        let current = DB::text(row, "status")?;
        if current == status.as_str() && DB::opt_text(row, "status_message")?.as_deref() == message {
            continue;
        }
        changed.push(DB::text(row, "version")?);
        if current == Status::Deleted.as_str() && status != Status::Deleted {
            restored.push(server_from_body(&DB::text(row, "body")?)?);
        }
    }
    Ok((changed, restored))
}
