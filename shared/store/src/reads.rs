//! The reads of the API: pages of servers, a server's versions, one version, and what a publish would
//! conflict with.

use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::publishing::publish_conflicts;
use crate::query::{Cursor, ListQuery, Narrow, Scope, VersionSelector};
use crate::records::{FacetRow, Facets, ServerPage, StoredVersion};
use crate::rows::VersionRow;
use crate::sql;
use registry_core::model::{RegistryName, ServerJson};
use registry_core::publish::Conflict;

impl Store {
    /// The reads return versions as stored ([`StoredVersion`]): bodies are served as
    /// they are, checked to be JSON but never deserialised into a document.
    pub async fn list_servers(&self, query: &ListQuery) -> Result<ServerPage, StoreError> {
        on_backend!(self, db => {
            // A search's best plan depends on its term, and a change feed's on how recent its time is.
            let planned_for_values = query.search.is_some() || query.updated_since.is_some();
            let mut rows: Vec<VersionRow> = db.read_rows(|| sql::list::<DB>(query), planned_for_values).await?;
            let more = rows.len() > query.limit as usize;
            rows.truncate(query.limit as usize);
            let items = rows.into_iter().map(StoredVersion::try_from).collect::<Result<Vec<_>, _>>()?;
            let next_cursor = more
                .then(|| items.last())
                .flatten()
                .map(|last| Cursor { name: last.name.clone(), version: last.version.clone() });
            Ok(ServerPage { items, next_cursor })
        })
    }

    /// The web catalogue's page of `query` narrowed by `narrow`, with the counts of each facet over all it
    /// could list (its cursor and limit aside). Each facet is counted with the others' narrowing but not its
    /// own, so its other values show what choosing them would give; registries are counted over every
    /// registry, shadowed names included, as choosing one shows them.
    ///
    /// One search reads what each matching version carries; the counting and the paging are done here, and
    /// a second read by key fetches the page's versions whole.
    pub async fn catalogue(
        &self,
        query: &ListQuery,
        narrow: &Narrow,
    ) -> Result<(ServerPage, Facets), StoreError> {
        let searched = query.search.is_some();
        let rows: Vec<FacetRow> =
            on_backend!(self, db => db.read_rows(|| sql::facet_rows::<DB>(query), searched).await?);
        let mut shown: Vec<&FacetRow> = rows.iter().filter(|row| row.shown(query, narrow)).collect();
        shown.sort_unstable_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        let more = shown.len() > query.limit as usize;
        shown.truncate(query.limit as usize);
        let keys: Vec<(String, String, String)> =
            shown.iter().map(|row| (row.registry.clone(), row.name.clone(), row.version.clone())).collect();
        let found: Vec<VersionRow> = match keys.is_empty() {
            true => Vec::new(),
            false => on_backend!(self, db => db.fetch_all(|| sql::versions_at::<DB>(&keys)).await?),
        };
        let mut items = found.into_iter().map(StoredVersion::try_from).collect::<Result<Vec<_>, _>>()?;
        items.sort_unstable_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        let next_cursor = more
            .then(|| items.last())
            .flatten()
            .map(|last| Cursor { name: last.name.clone(), version: last.version.clone() });
        Ok((ServerPage { items, next_cursor }, Facets::count(query, narrow, &rows)))
    }

    /// Every version of one server, newest publish first. Empty when the server is unknown in the scope.
    pub async fn list_versions(
        &self,
        scope: &Scope,
        name: &str,
        include_deleted: bool,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        on_backend!(self, db => {
            let rows: Vec<VersionRow> =
                db.fetch_all(|| sql::versions::<DB>(scope, name, include_deleted)).await?;
            rows.into_iter().map(StoredVersion::try_from).collect()
        })
    }

    /// What would stop `server` from being published to `registry` now (read only; `/validate` reports it).
    pub async fn publish_conflicts(
        &self,
        registry: &RegistryName,
        server: &ServerJson,
    ) -> Result<Vec<Conflict>, StoreError> {
        on_backend!(self, db => {
            // Its several reads are not retried, so not on the read pool, which hands out recently used
            // connections unpinged.
            let mut conn = db.write.acquire().await?;
            publish_conflicts::<DB>(&mut conn, registry, server).await
        })
    }

    pub async fn get_version(
        &self,
        scope: &Scope,
        name: &str,
        selector: &VersionSelector,
        include_deleted: bool,
    ) -> Result<Option<StoredVersion>, StoreError> {
        on_backend!(self, db => {
            let rows: Vec<VersionRow> =
                db.fetch_all(|| sql::version::<DB>(scope, name, selector, include_deleted)).await?;
            rows.into_iter().next().map(StoredVersion::try_from).transpose()
        })
    }
}
