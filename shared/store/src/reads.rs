//! The reads of the API: pages of servers, a server's versions, one version, and what a publish would
//! conflict with.

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::publishing::publish_conflicts;
use crate::query::{Cursor, ListQuery, Scope, VersionSelector};
use crate::records::{FacetCount, Facets, ServerPage, StoredVersion};
use crate::rows::VersionRow;
use crate::sql;
use registry_core::model::{RegistryName, ServerJson};
use registry_core::publish::Conflict;

impl Store {
    /// The reads return versions as stored ([`StoredVersion`]): bodies are served as
    /// they are, checked to be JSON but never deserialised into a document.
    pub async fn list_servers(&self, query: &ListQuery) -> Result<ServerPage, StoreError> {
        on_backend!(self, db => {
            let mut rows: Vec<VersionRow> = db.fetch_all(sql::list::<DB>(query)).await?;
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

    /// The counts of each facet over what `query` lists (its cursor and limit aside). Each facet is counted
    /// with the others' narrowing but not its own, so its other values show what choosing them would give;
    /// registries are counted over every registry, shadowed names included, as choosing one shows them.
    pub async fn facets(&self, query: &ListQuery) -> Result<Facets, StoreError> {
        let without = |clear: fn(&mut ListQuery)| {
            let mut query = query.clone();
            clear(&mut query);
            query
        };
        let one = "count(*)";
        on_backend!(self, db => {
            let counts = |rows: Vec<(Option<String>, i64)>| -> Vec<FacetCount> {
                rows.into_iter().filter_map(|(value, count)| Some(FacetCount { value: value?, count })).collect()
            };
            let registries = db.fetch_all(sql::facet::<DB>(query, true, "sv.registry", "", one)).await?;
            let statuses =
                db.fetch_all(sql::facet::<DB>(&without(|q| q.narrow.status = None), false, "sv.status", "", one)).await?;
            let package_types = db
                .fetch_all(sql::facet::<DB>(
                    &without(|q| q.narrow.package_type = None),
                    false,
                    DB::PACKAGE_TYPE,
                    DB::PACKAGE_TYPES,
                    "count(distinct sv.registry || ' ' || sv.name || ' ' || sv.version)",
                ))
                .await?;
            let placement = format!("case when {} then 'remote' else 'local' end", DB::HAS_REMOTE);
            let placement =
                db.fetch_all(sql::facet::<DB>(&without(|q| q.narrow.remote = None), false, &placement, "", one)).await?;
            let reachability = without(|q| q.narrow.reachability = None);
            let reachability = db.fetch_all(sql::facet::<DB>(&reachability, false, sql::REACHABILITY, "", one)).await?;
            Ok(Facets {
                registries: counts(registries),
                statuses: counts(statuses),
                package_types: counts(package_types),
                placement: counts(placement),
                reachability: counts(reachability),
            })
        })
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
                db.fetch_all(sql::versions::<DB>(scope, name, include_deleted)).await?;
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
            let mut conn = db.read.acquire().await?;
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
                db.fetch_all(sql::version::<DB>(scope, name, selector, include_deleted)).await?;
            rows.into_iter().next().map(StoredVersion::try_from).transpose()
        })
    }
}
