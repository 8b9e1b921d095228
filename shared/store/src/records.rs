//! What the store returns: server versions with their registry-owned metadata, pages, registries and their
//! sync state.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::StoreError;
use crate::query::{Cursor, ListQuery, Narrow, Reachability, Scope};
use registry_core::formats::Format;
use registry_core::model::envelope::OFFICIAL_META;
use registry_core::model::{OfficialMeta, RegistryName};
use registry_core::registry::{ProbePolicy, RegistryConfig, SyncPolicy};

/// One stored version as a read serves it: the body exactly as stored (checked to be JSON, never deserialised
/// into a document), with the key columns and the registry-owned metadata. It serialises as a
/// `ServerResponse`.
#[derive(Debug, Clone)]
pub struct StoredVersion {
    pub registry: RegistryName,
    pub name: String,
    pub version: String,
    pub body: Box<RawValue>,
    pub official: OfficialMeta,
}

impl PartialEq for StoredVersion {
    fn eq(&self, other: &Self) -> bool {
        (&self.registry, &self.name, &self.version, self.body.get(), &self.official)
            == (&other.registry, &other.name, &other.version, other.body.get(), &other.official)
    }
}

impl Serialize for StoredVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut response = serializer.serialize_struct("ServerResponse", 2)?;
        response.serialize_field("server", &self.body)?;
        response.serialize_field("_meta", &Official(&self.official))?;
        response.end()
    }
}

/// `_meta`: the one key of the registry-owned metadata, without a map built for it.
struct Official<'a>(&'a OfficialMeta);

impl Serialize for Official<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut meta = serializer.serialize_map(Some(1))?;
        meta.serialize_entry(OFFICIAL_META, self.0)?;
        meta.end()
    }
}

/// A published version as stored, and whether this publish stored it (false: the same document was there
/// already, from an earlier try of the same publish).
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    pub record: StoredVersion,
    pub created: bool,
}

/// One page of a list; `next_cursor` is set only when another row exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerPage {
    pub items: Vec<StoredVersion>,
    pub next_cursor: Option<Cursor>,
}

/// One value of a facet, and how many servers have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetCount {
    pub value: String,
    pub count: i64,
}

/// The web catalogue's facets with their counts (see `Store::catalogue`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facets {
    pub registries: Vec<FacetCount>,
    pub statuses: Vec<FacetCount>,
    pub package_types: Vec<FacetCount>,
    /// `remote` or `local`.
    pub placement: Vec<FacetCount>,
    /// `ok`, `requiresAuth`, `unreachable` or `notProbed`.
    pub reachability: Vec<FacetCount>,
    /// The (registry, name) of the versions counted whose remotes answered the prober (`ok`).
    pub probed_ok: BTreeSet<(String, String)>,
}

/// What one version carries for the facets: what `sql::facet_rows` selects.
#[derive(sqlx::FromRow)]
pub(crate) struct FacetRow {
    pub registry: String,
    pub name: String,
    pub version: String,
    owner: bool,
    status: String,
    remote: bool,
    types: Option<String>,
    reach: i64,
}

/// The facets, each one a condition on a row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Facet {
    Registry,
    Status,
    PackageType,
    Placement,
    Reachability,
}

impl FacetRow {
    fn reachability(&self) -> Reachability {
        match self.reach {
            3 => Reachability::Ok,
            2 => Reachability::RequiresAuth,
            1 => Reachability::Unreachable,
            _ => Reachability::NotProbed,
        }
    }

    fn types(&self) -> Vec<String> {
        let listed: Vec<Option<String>> =
            self.types.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
        let mut types: Vec<String> = listed.into_iter().flatten().collect();
        types.sort_unstable();
        types.dedup();
        types
    }

    /// Whether the page shows the row: it passes `query`'s scope and every facet chosen, and comes after the
    /// page's cursor.
    pub fn shown(&self, query: &ListQuery, narrow: &Narrow) -> bool {
        let after = query.cursor.as_ref().is_none_or(|cursor| {
            (self.name.as_str(), self.version.as_str()) > (cursor.name.as_str(), cursor.version.as_str())
        });
        after && self.passes(query, narrow, None)
    }

    /// Whether the row passes `query`'s scope and `narrow`, `skip` aside (the registry facet skips the scope:
    /// every registry is counted).
    fn passes(&self, query: &ListQuery, narrow: &Narrow, skip: Option<Facet>) -> bool {
        let skip = |facet: Facet| skip == Some(facet);
        let scope = skip(Facet::Registry)
            || match &query.scope {
                Scope::Aggregated => self.owner,
                Scope::Registry(name) => self.registry == name.as_str(),
            };
        let status = skip(Facet::Status) || narrow.status.is_none_or(|status| self.status == status.as_str());
        let kind = skip(Facet::PackageType)
            || narrow.package_type.as_ref().is_none_or(|kind| self.types().contains(kind));
        let placement = skip(Facet::Placement) || narrow.remote.is_none_or(|remote| self.remote == remote);
        let reach =
            skip(Facet::Reachability) || narrow.reachability.is_none_or(|reach| self.reachability() == reach);
        scope && status && kind && placement && reach
    }
}

impl Facets {
    pub(crate) fn count(query: &ListQuery, narrow: &Narrow, rows: &[FacetRow]) -> Self {
        let tally = |facet: Facet, values: &dyn Fn(&FacetRow) -> Vec<String>| -> Vec<FacetCount> {
            let mut counts: BTreeMap<String, i64> = BTreeMap::new();
            for row in rows.iter().filter(|row| row.passes(query, narrow, Some(facet))) {
                for value in values(row) {
                    *counts.entry(value).or_default() += 1;
                }
            }
            counts.into_iter().map(|(value, count)| FacetCount { value, count }).collect()
        };
        Self {
            registries: tally(Facet::Registry, &|row| vec![row.registry.clone()]),
            statuses: tally(Facet::Status, &|row| vec![row.status.clone()]),
            package_types: tally(Facet::PackageType, &FacetRow::types),
            placement: tally(Facet::Placement, &|row| {
                vec![if row.remote { "remote" } else { "local" }.to_owned()]
            }),
            reachability: tally(Facet::Reachability, &|row| vec![row.reachability().as_str().to_owned()]),
            probed_ok: rows
                .iter()
                .filter(|row| row.reach == 3)
                .map(|row| (row.registry.clone(), row.name.clone()))
                .collect(),
        }
    }
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
    pub sync_policy: SyncPolicy,
    pub probe: ProbePolicy,
    /// Config order, the precedence of the aggregated view.
    pub position: i32,
    /// The content generation: new whenever what a read of this registry returns changes, and never given
    /// twice (so cached answers keyed by it cannot be stale).
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Registry {
    /// The definition to sync from, as the release step stored it. An error when this build cannot read
    /// it (a newer release stored a form this one does not know).
    pub fn definition(&self) -> Result<RegistryConfig, StoreError> {
        let unreadable = |e: serde_json::Error| {
            StoreError::unreadable(
                format!("the stored definition of registry {} is not readable", self.name),
                e,
            )
        };
        Ok(RegistryConfig {
            name: self.name.clone(),
            format: self.format,
            source: serde_json::from_value(self.source.clone()).map_err(unreadable)?,
            sync_interval: self.sync_interval,
            sync_policy: self.sync_policy,
            probe: self.probe,
            filter: serde_json::from_value(self.filter.clone()).map_err(unreadable)?,
        })
    }
}

/// What applying a configuration's registries changed, by registry name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryChanges {
    pub added: Vec<String>,
    /// Source, format, filter, schedule or position changed.
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl RegistryChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// A registry claimed for a sync: `slot` is the due time it was claimed for, unique per registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSync {
    pub registry: RegistryName,
    pub slot: DateTime<Utc>,
    /// Asked for (by a Kubernetes watcher, see [`SyncStatus::requested_at`]), not due by the schedule.
    pub requested: bool,
}

/// How many versions of one registry have one status.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VersionCount {
    pub registry: String,
    pub status: String,
    pub versions: i64,
}
